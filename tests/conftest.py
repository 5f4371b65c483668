import os

import keras
import pytest

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


@pytest.fixture
def report_figure(record_property):
    """`report_figure(line)`: a figure the test measured, listed in pytest's summary (also from pytest-xdist's
    worker processes, which print nothing of a passing test)."""
    return lambda line: record_property("figure", line)


def pytest_terminal_summary(terminalreporter):
    figures = [(report.nodeid, value) for reports in terminalreporter.stats.values() for report in reports
               if getattr(report, "when", None) == "call"
               for name, value in getattr(report, "user_properties", ()) if name == "figure"]
    if figures:
        terminalreporter.section("figures the tests measured")
        for nodeid, line in figures:
            terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {line}")


def shared_data(*parts):
    """Path under ../shared/data; skips the test with a reason when it is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path} (see ../shared/data/SOURCES.md)")
    return path


@pytest.fixture(scope="session")
def tiny_dates():
    from kseq2seq.datasets.dates import load_dates

    train, _, _ = load_dates(num_train=64, num_validation=1, num_test=1, seed=3)
    return train


@pytest.fixture(scope="session")
def tiny_translator(tiny_dates):
    """A small translator trained for 300 steps on 64 dates (about 10 s on 2 cores)."""
    import kseq2seq

    keras.utils.set_random_seed(1234)
    translator = kseq2seq.Translator.from_preset(
        "bahdanau_gru_small", train_texts=tiny_dates, units=32, embedding_dim=16
    )
    data = translator.make_dataset(tiny_dates, batch_size=32).cache().repeat()
    history = translator.fit(data, steps_per_epoch=100, epochs=3, verbose=0)
    translator.test_history = history.history
    return translator


@pytest.fixture(scope="session")
def spoken_numbers():
    """128 training and 6 test strings of the generated spoken numbers."""
    from kseq2seq.datasets.spoken_numbers import load_spoken_numbers

    return load_spoken_numbers(num_train=128, num_validation=0, num_test=6, seed=5)


@pytest.fixture(scope="session")
def tiny_transcriber(spoken_numbers):
    """A tiny transcriber after one epoch (about 10 s): its outputs are fixed by the seed, not good."""
    import kseq2seq

    keras.utils.set_random_seed(0)
    task = kseq2seq.Transcriber.from_preset("las_digits_small", train_texts=spoken_numbers[0], units=16,
                                            filters=16, num_mel_bins=20)
    task.fit(spoken_numbers[0], epochs=1, verbose=0)
    return task


@pytest.fixture(scope="session")
def tiny_restaurants():
    """600 generated (MR, reference) pairs: 200 records, 3 references each."""
    from kseq2seq.datasets.e2e import load_restaurants

    return load_restaurants(num_train=200, num_validation=0, num_test=0, seed=5)[0]


@pytest.fixture(scope="session")
def tiny_data_to_text(tiny_restaurants):
    """A small DataToText model trained for 400 steps on the tiny restaurants (about 25 s on 2 cores)."""
    import kseq2seq

    keras.utils.set_random_seed(1234)
    model = kseq2seq.DataToText.from_preset("records_small", train_texts=tiny_restaurants, units=48,
                                            embedding_dim=32)
    model.fit(model.make_dataset(tiny_restaurants, batch_size=32).cache().repeat(), steps_per_epoch=100, epochs=4,
              verbose=0)
    return model
