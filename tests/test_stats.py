"""Tests for ldarviz.stats: what "beats its controls" means, on hand-made tables."""

import numpy as np
import pandas as pd
import pytest

from ldarviz.stats import adjust_pvalues, beats_controls, verdict_text


def table(rows):
    """rows: (group, set, enrichment, pvalue[, alternative])"""
    out = []
    for row in rows:
        group, name, enrichment, pvalue, *alt = row
        out.append({"group": group, "set": name, "enrichment": enrichment, "pvalue": pvalue,
                    "alternative": alt[0] if alt else "greater", "n_sites": 100})
    return pd.DataFrame(out)


def one(verdicts, group="a"):
    return verdicts.set_index("group").loc[group]


def test_bonferroni_and_holm_by_hand():
    p = [0.01, 0.04, 0.03, np.nan]
    np.testing.assert_allclose(adjust_pvalues(p), [0.03, 0.12, 0.09, np.nan])
    np.testing.assert_allclose(adjust_pvalues(p, n_tests=10), [0.1, 0.4, 0.3, np.nan])
    # Holm: sorted 0.01*3, 0.03*2, 0.04*1 -> 0.03, 0.06, 0.06 (monotone)
    np.testing.assert_allclose(adjust_pvalues(p, method="holm"), [0.03, 0.06, 0.06, np.nan])
    assert adjust_pvalues([0.9, 0.8])[0] == 1.0
    with pytest.raises(ValueError, match="method"):
        adjust_pvalues(p, method="fdr")
    with pytest.raises(ValueError, match="n_tests"):
        adjust_pvalues(p, n_tests=2)


def test_enriched_beyond_every_control_beats_them():
    v = beats_controls(table([("a", "true", 1.5, 0.001), ("a", "gc", 1.0, 0.6), ("a", "shuf", 1.1, 0.3)]), by="group")
    row = one(v)
    assert row.significant and row.beats_controls
    assert row.beaten == "gc, shuf" and row.not_beaten == "" and row.verdict == "beats its controls"
    assert row.pvalue_adjusted == pytest.approx(0.001)


def test_adjustment_is_over_the_family_of_true_rows():
    # p = 0.02 passes alone but not as one of three tests (0.06 >= 0.05)
    rows = [("a", "true", 1.5, 0.02), ("a", "gc", 1.0, 0.6)]
    assert one(beats_controls(table(rows), by="group")).beats_controls
    rows += [("b", "true", 1.0, 0.5), ("b", "gc", 1.0, 0.5), ("c", "true", 1.0, 0.5), ("c", "gc", 1.0, 0.5)]
    v = beats_controls(table(rows), by="group")
    assert one(v).pvalue_adjusted == pytest.approx(0.06) and not one(v).beats_controls
    assert one(v).verdict.startswith("not significant") and v.attrs["n_tests"] == 3
    # Holm also uses 3 for the smallest p
    assert not one(beats_controls(table(rows), by="group", method="holm")).beats_controls


def test_a_tie_with_a_control_does_not_beat_it():
    v = beats_controls(table([("a", "true", 1.5, 0.001), ("a", "gc", 1.5, 0.2)]), by="group")
    assert one(v).significant and not one(v).beats_controls and one(v).not_beaten == "gc"
    assert one(v).verdict == "significant, but not beyond gc"


def test_a_control_that_is_also_enriched_is_not_beaten_even_when_smaller():
    # the control shows the effect itself (p = 0.01 < alpha): the effect is not specific to the true sites
    v = beats_controls(table([("a", "true", 1.5, 0.001), ("a", "gc", 1.2, 0.01), ("a", "shuf", 1.0, 0.7)]), by="group")
    row = one(v)
    assert row.significant and not row.beats_controls
    assert row.not_beaten == "gc" and row.beaten == "shuf" and row.also_in == "gc"


def test_a_control_significant_in_the_other_direction_does_not_count_as_showing_it():
    v = beats_controls(table([("a", "true", 1.5, 0.001), ("a", "gc", 0.8, 0.01)]), by="group")
    assert one(v).beats_controls and one(v).also_in == ""


def test_a_missing_control_or_nan_value_cannot_be_beaten():
    rows = [("a", "true", 1.5, 0.001), ("a", "gc", 1.0, 0.6), ("b", "true", 1.5, 0.001), ("b", "gc", 1.0, 0.6),
            ("b", "shuf", np.nan, np.nan)]
    v = beats_controls(table(rows), by="group", controls=["gc", "shuf"])
    assert not one(v, "a").beats_controls and one(v, "a").not_beaten == "shuf"
    assert not one(v, "b").beats_controls and one(v, "b").not_beaten == "shuf"


def test_avoidance_beats_controls_when_lower():
    rows = [("a", "true", 0.6, 0.001, "less"), ("a", "gc", 0.95, 0.3, "less"), ("a", "shuf", 1.05, 0.7, "less")]
    assert one(beats_controls(table(rows), by="group")).beats_controls
    # a control with even fewer boundaries is not beaten, and one that avoids too shows the effect
    rows[1] = ("a", "gc", 0.5, 0.2, "less")
    assert one(beats_controls(table(rows), by="group")).not_beaten == "gc"
    rows[1] = ("a", "gc", 0.8, 0.01, "less")
    row = one(beats_controls(table(rows), by="group"))
    assert not row.beats_controls and row.also_in == "gc"


def test_compare_sets_are_reported_but_not_required():
    rows = [("a", "true", 0.6, 0.001, "less"), ("a", "gc", 1.0, 0.5, "less"), ("a", "planted", 0.5, 0.001, "less")]
    row = one(beats_controls(table(rows), by="group", compare=["planted"]))
    assert row.beats_controls and row.beaten == "gc" and row.also_in == "planted"
    # without compare= it is a control like the others (and is not beaten)
    assert not one(beats_controls(table(rows), by="group")).beats_controls


def test_groups_of_several_columns_and_bad_tables():
    t = table([("a", "true", 1.5, 0.001), ("a", "gc", 1.0, 0.6)]).assign(statistic="start")
    v = beats_controls(t, by=["group", "statistic"])
    assert list(v.columns[:2]) == ["group", "statistic"] and v["beats_controls"].item()
    with pytest.raises(ValueError, match="lacks column"):
        beats_controls(t.drop(columns="pvalue"), by="group")
    with pytest.raises(ValueError, match="no set == 'true'"):
        beats_controls(t[t["set"] != "true"], by="group")
    with pytest.raises(ValueError, match="more than one row"):
        beats_controls(pd.concat([t, t]), by="group")
    with pytest.raises(ValueError, match="alternative"):
        beats_controls(t.assign(alternative="two-sided"), by="group")


def test_verdict_text_is_computed_from_the_table():
    rows = [("TBP", "true", 1.5, 0.001), ("TBP", "gc", 1.0, 0.6), ("SP1", "true", 1.2, 0.01), ("SP1", "gc", 1.3, 0.6)]
    v = beats_controls(table(rows), by="group")
    text = verdict_text(v, what="motif")
    assert text.startswith("1 of 2 motifs beat their controls (Bonferroni over 2 motifs, alpha 0.05): TBP ")
    assert "enrichment 1.50" in text and "adjusted p 0.002" in text and "SP1" not in text
    none = verdict_text(beats_controls(table(rows[2:]), by="group"), what="motif")
    assert none.startswith("No motif beats its controls") and "not beyond gc" in none


def test_verdict_text_says_which_compare_sets_show_the_effect_and_which_do_not():
    rows = [("TBP", "true", 1.5, 0.001), ("TBP", "gc", 1.0, 0.6), ("TBP", "planted", 1.4, 0.01), ("TBP", "outside", 1.0, 0.5)]
    text = verdict_text(beats_controls(table(rows), by="group", compare=["planted", "outside"]), what="motif")
    assert "also in planted; not in outside" in text
