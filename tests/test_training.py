import pytest

import kseq2seq
from kseq2seq.training import TimeBudget


def test_time_budget_stops_training_within_a_step(tiny_dates):
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8)
    budget = TimeBudget(minutes=1e-9)  # expires after the first step
    history = translator.fit(tiny_dates, batch_size=8, epochs=5, callbacks=[budget], verbose=0)
    assert budget.stopped_at_step == 1 and len(history.history["loss"]) == 1
    assert int(translator.optimizer.iterations.numpy()) == 1
    with pytest.raises(ValueError, match="minutes=0"):
        TimeBudget(0)
