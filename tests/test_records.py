import pytest

from kseq2seq.records import format_mr, parse_mr

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
