import pytest

from kseq2seq.records import format_mr, parse_mr, record_fields

MR = "name[The Eagle], eatType[coffee shop], customer rating[5 out of 5], near[Burger King]"


def test_parse_and_format_round_trip():
    slots = parse_mr(MR)
    assert slots == [("name", "The Eagle"), ("eatType", "coffee shop"), ("customer rating", "5 out of 5"),
                     ("near", "Burger King")]
    assert format_mr(dict(slots)) == MR
    assert format_mr(slots) == MR
    # Spaces around brackets and commas are forgiven; values keep their inner spaces and symbols.
    assert parse_mr(" name [ Café Rouge ] ,priceRange[£20-25]") == [("name", "Café Rouge"), ("priceRange", "£20-25")]
    # The cleaned E2E release repeats attributes when a text says two values.
    assert parse_mr("eatType[pub], eatType[restaurant]") == [("eatType", "pub"), ("eatType", "restaurant")]
    assert format_mr({"name": "X", "stars": 4}) == "name[X], stars[4]"


@pytest.mark.parametrize("mr, message", [
    ("", "at least one attribute"),
    ("name The Eagle", r"unreadable from character 0"),
    ("name[The Eagle], food French", r"unreadable from character 16"),
    ("name[The [Eagle]]", "unreadable"),
])
def test_unreadable_mrs_are_errors_quoting_the_mr(mr, message):
    with pytest.raises(ValueError, match=message):
        parse_mr(mr)


def test_format_errors_name_the_part():
    with pytest.raises(ValueError, match="empty record"):
        format_mr({})
    with pytest.raises(ValueError, match=r"value without brackets.*value='a \[b\]'"):
        format_mr({"name": "a [b]"})
    with pytest.raises(ValueError, match="attribute without brackets or commas.*attribute='a,b'"):
        format_mr({"a,b": "x"})
    with pytest.raises(TypeError, match="Received: int"):
        parse_mr(3)


def test_record_fields_order_attributes_as_the_mrs_do_and_list_closed_class_values_by_frequency():
    mrs = ["name[A], eatType[pub], area[riverside], near[X]", "name[B], food[French], eatType[pub], near[Y]",
           "name[C], eatType[restaurant], food[Thai]", b"name[D], area[riverside]", "not an MR"]
    fields = record_fields(mrs, open_class=("name", "near"), max_values=1)
    # Mean relative positions (index / slots): name 0, eatType 0.36, food 0.46, area 0.5, near 0.75.
    assert list(fields) == ["name", "eatType", "food", "area", "near"]
    assert fields == {"name": [], "eatType": ["pub"], "food": ["French"], "area": ["riverside"], "near": []}
    assert record_fields(mrs, open_class=())["food"] == ["French", "Thai"]  # a tie keeps the first seen first
