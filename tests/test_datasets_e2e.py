import pytest

from kseq2seq.datasets.e2e import faithful_pairs, group_references, load_e2e_csv, load_restaurants
from kseq2seq.slot_errors import slot_error_rate

from conftest import shared_data

TRICKY = (
    'mr,ref\r\n'
    '"name[The Eagle], food[French]","The Eagle, near the river, serves French food."\r\n'
    '"name[The Eagle], food[French]","A ""French"" place:\r\nThe Eagle."\r\n'
    '"name[Zizzi], priceRange[£20-25]",Zizzi costs £20-25.\r\n'
)


def test_csv_loader_reads_quoted_commas_quotes_and_newlines(tmp_path):
    path = tmp_path / "dev.csv"
    path.write_bytes(TRICKY.encode("utf-8"))
    pairs = load_e2e_csv(str(path))
    assert pairs == [("name[The Eagle], food[French]", "The Eagle, near the river, serves French food."),
                     ("name[The Eagle], food[French]", 'A "French" place: The Eagle.'),
                     ("name[Zizzi], priceRange[£20-25]", "Zizzi costs £20-25.")]
    mrs, references = group_references(pairs)
    assert mrs == ["name[The Eagle], food[French]", "name[Zizzi], priceRange[£20-25]"]
    assert [len(r) for r in references] == [2, 1]
    assert load_e2e_csv(str(path), limit=1) == pairs[:1]


def test_faithful_pairs_keep_references_that_say_their_slots_even_twice():
    mr = "name[Aromi], eatType[coffee shop], area[riverside]"
    pairs = [(mr, "Aromi is a coffee shop by the river."),                        # exact
             (mr, "Aromi is a coffee shop by the river. This coffee shop is nice."),  # repeated: kept
             (mr, "Aromi is a coffee shop."),                                     # missing area
             (mr, "Aromi is a cheap coffee shop by the river."),                  # added priceRange
             (mr, "Aromi is a pub by the river."),                                # wrong eatType
             (mr, "Aromi is a coffee shop in the city centre.")]                  # wrong area
    assert faithful_pairs(pairs) == pairs[:2]
    assert faithful_pairs([]) == []


def test_csv_loader_errors_name_the_file_and_row(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('mr,ref\n"name[A]",ok\n"name A",broken\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.csv, row 3: Expected a meaning representation"):
        load_e2e_csv(str(bad))
    columns = tmp_path / "columns.csv"
    columns.write_text("source,target\na,b\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"columns 'mr' and 'ref'. Received columns \['source', 'target'\]"):
        load_e2e_csv(str(columns))
    latin = tmp_path / "latin.csv"
    latin.write_bytes('mr,ref\n"name[A]",ok\n"name[Café]",x\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv, line 3: expected UTF-8 text. Received byte b'\\xe9'"):
        load_e2e_csv(str(latin))


def test_generated_restaurants_are_seeded_disjoint_and_say_exactly_their_slots():
    train, validation, test = load_restaurants(num_train=300, num_validation=50, num_test=50, seed=1)
    assert (len(train), len(validation), len(test)) == (900, 150, 150)
    assert load_restaurants(num_train=300, num_validation=50, num_test=50, seed=1)[0] == train
    assert not {m for m, _ in train} & {m for m, _ in test}
    # Every generated reference realizes its MR: the slot matcher finds no error.
    result = slot_error_rate([m for m, _ in train], [t for _, t in train])
    assert result["ser"] == 0.0 and result["slots"] > 900 * 3


def test_shared_e2e_files_read_in_full():
    pairs = load_e2e_csv(shared_data("e2e", "dev.csv"))
    mrs, references = group_references(pairs)
    assert (len(pairs), len(mrs)) == (4672, 547)  # as ../shared/data/SOURCES.md states
    cleaned = load_e2e_csv(shared_data("e2e_cleaned", "dev.csv"))
    assert (len(cleaned), len(group_references(cleaned)[0])) == (4299, 1484)
    original = load_e2e_csv(shared_data("e2e_cleaned", "dev.csv"), mr_column="orig_mr")
    assert len(group_references(original)[0]) == 543
