import pytest

from kseq2seq.slot_errors import slot_error_rate, slot_errors

MR = ("name[The Eagle], eatType[coffee shop], food[French], priceRange[moderate], customer rating[3 out of 5], "
      "area[riverside], familyFriendly[yes], near[Burger King]")
PERFECT = ("The Eagle is a moderately priced coffee shop serving French food by the riverside near Burger King. "
           "It is family-friendly and rated 3 out of 5.")


def kinds(mr, text):
    return slot_errors(mr, text)["details"]


def test_a_text_that_says_every_slot_once_has_no_errors():
    result = slot_errors(MR, PERFECT)
    assert result["details"] == [] and result["slots"] == 8
    # Class members are interchangeable: "moderate" is said for £20-25, "average" for 3 out of 5.
    assert kinds("name[A], priceRange[£20-25], customer rating[3 out of 5]",
                 "A has moderate prices and an average customer rating.") == []


def test_each_error_kind():
    assert kinds(MR, PERFECT.replace(" near Burger King", "")) == [("missing", "near", "Burger King")]
    assert kinds(MR, PERFECT.replace("French", "Italian")) == [("wrong", "food", "French")]
    assert kinds(MR, PERFECT.replace("family-friendly", "not family-friendly")) == [
        ("wrong", "familyFriendly", "yes")]
    assert kinds("name[The Eagle], food[French]", "The Eagle is a cheap French pub.") == [
        ("added", "eatType", "pub"), ("added", "priceRange", "low")]
    assert kinds(MR, PERFECT + " The Eagle serves French food.") == [
        ("repeated", "name", "The Eagle"), ("repeated", "food", "French")]
    assert kinds(MR, PERFECT.replace(" and rated 3 out of 5", "")) == [("missing", "customer rating", "3 out of 5")]


def test_names_are_removed_before_the_other_attributes_are_matched():
    # "Café Rouge" is not a coffee shop, "Raja Indian Cuisine" not Indian food.
    assert kinds("name[Zizzi], eatType[pub], near[Café Rouge]", "Zizzi is a pub near Café Rouge.") == []
    assert kinds("name[Zizzi], near[Raja Indian Cuisine]", "Zizzi is near raja indian cuisine.") == []


def test_corpus_rate_is_errors_over_slots():
    result = slot_error_rate([MR, "name[A], area[city centre]"], [PERFECT, "B is by the river."])
    # Second text: name missing, area wrong -> 2 errors over 8 + 2 slots.
    assert result["ser"] == pytest.approx(2 / 10)
    assert (result["missing"], result["wrong"], result["slots"], result["texts_with_errors"]) == (1, 1, 10, 1)
    with pytest.raises(ValueError, match="1 texts, 2 MRs"):
        slot_error_rate([MR, MR], ["x"])
