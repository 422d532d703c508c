"""CSV tables (opscore.data.tables): features as float32, labels encoded, delimiters, held-out splits, errors."""
import numpy as np
import pytest

from conftest import write
from opscore.data import DataError, tables


def test_csv_features_float32_labels_from_option(fraud_csv):
    ds = tables.load_csv_dataset(fraud_csv, "Class")
    assert ds["x_train"].dtype == np.float32 and ds["x_train"].shape == (12, 3)
    assert ds["y_train"].dtype == np.int64
    assert ds["y_train"].tolist() == [int(i % 3 == 0) for i in range(12)]
    assert ds["class_names"] == ["0", "1"]
    np.testing.assert_allclose(ds["x_train"][5], [5, -2.5, 51.25])
    assert ds["x_test"].shape == (0, 3) and ds["x_test"].dtype == np.float32 and len(ds["y_test"]) == 0
    assert ds["name"] == "creditcard"


def test_text_labels_are_encoded_sorted(tmp_path):
    path = write(tmp_path / "iris.csv",
                 "species,a,b\nvirginica,1,2\nsetosa,3,4\nversicolor,5,6\nsetosa,7,8\n virginica ,9,10\n")
    ds = tables.load_csv_dataset(path, "species")
    assert ds["class_names"] == ["setosa", "versicolor", "virginica"]
    assert ds["y_train"].tolist() == [2, 0, 1, 0, 2]
    np.testing.assert_array_equal(ds["x_train"][:, 0], [1, 3, 5, 7, 9])  # the label column is not a feature


def test_numeric_labels_sort_as_numbers(tmp_path):
    path = write(tmp_path / "t.csv", "x,y\n1,10\n2,2\n3,10\n4,2.5\n")
    ds = tables.load_csv_dataset(path, "y")
    assert ds["class_names"] == ["2", "2.5", "10"]
    assert ds["y_train"].tolist() == [2, 0, 2, 1]


def test_feature_subset_and_errors(tmp_path, fraud_csv):
    ds = tables.load_csv_dataset(fraud_csv, "Class", features=["Amount", "Time"])
    np.testing.assert_allclose(ds["x_train"][2], [20.5, 2])
    with pytest.raises(DataError, match="no label column 'label'.*Time, V1, Amount, Class"):
        tables.load_csv_dataset(fraud_csv, "label")
    with pytest.raises(DataError, match="no feature column.*V2"):
        tables.load_csv_dataset(fraud_csv, "Class", features=["V2"])
    text = write(tmp_path / "text.csv", "city,x,y\nParis,1,0\nRome,2,1\n")
    with pytest.raises(DataError, match="city.*not numeric.*features"):
        tables.load_csv_dataset(text, "y")
    holes = write(tmp_path / "holes.csv", "a,b,y\n1,2,0\n3,,1\n")
    with pytest.raises(DataError, match="column.*b.*line 3"):
        tables.load_csv_dataset(holes, "y")
    one = write(tmp_path / "one.csv", "a,y\n1,0\n2,0\n")
    with pytest.raises(DataError, match="single class"):
        tables.load_csv_dataset(one, "y")
    with pytest.raises(DataError, match="does not exist"):
        tables.load_csv_dataset(tmp_path / "nope.csv", "y")


def test_test_fraction_is_stratified_and_seeded(fraud_csv):
    a = tables.load_csv_dataset(fraud_csv, "Class", test_fraction=0.25, seed=1)
    b = tables.load_csv_dataset(fraud_csv, "Class", test_fraction=0.25, seed=1)
    assert len(a["y_test"]) == 3 and len(a["y_train"]) == 9
    assert a["y_test"].sum() == 1  # 4 frauds of 12 → 1 of 3
    np.testing.assert_array_equal(a["x_test"], b["x_test"])


def test_table_errors_name_the_file_the_columns_and_the_lines(tmp_path):
    """Each refusal word for word: what is wrong, where, and what to do."""
    path = write(tmp_path / "t.csv", "a,b,city,y\n1,2,x,0\n3,,y,1\n5,6,z,\n7,8,w,\n9,10,v,\n11,12,u,\n"
                                     "13,14,t,\n15,16,s,\n17,18,r,1\n")

    def refusal(**options):
        with pytest.raises(DataError) as error:
            tables.load_csv_dataset(path, **options)
        return str(error.value)

    assert refusal(label_column="label") == (f"{path} has no label column 'label'; its columns are: a, b, city, y. "
                                             "Set the dataset's `label:` option to one of them.")
    assert refusal(label_column="y", features=["a", "q", "r"]) == (
        f"{path} has no feature column(s) q, r; its columns are: a, b, city, y")
    assert refusal(label_column="y", features=["a", "y"]) == f"{path}: the label column 'y' cannot also be a feature."
    assert refusal(label_column="y", features=[]) == f"{path} has no feature columns besides the label 'y'."
    assert refusal(label_column="a", features=["city", "y", "b"]) == (
        f"{path}: feature column(s) city are not numeric; encode them as numbers (e.g. one-hot) or leave them out "
        "with the `features:` option.")
    assert refusal(label_column="y", features=["a", "b"]) == (
        f"{path}: the label column 'y' is empty on line(s) [4, 5, 6, 7, 8]; fill or remove those rows.")
    full = write(tmp_path / "u.csv", "a,b,c,y\n1,2,3,0\n3,,4,1\n5,6,,0\n7,8,9,1\n")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(full, "y")
    assert str(error.value) == f"{full}: missing or non-finite values in column(s) b, c (first on line 3); " \
                               "fill or remove those rows."
    rare = write(tmp_path / "r.csv", "a,y\n1,0\n2,0\n3,1\n4,0\n")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(rare, "y", test_fraction=0.5)  # class 1 has one row: not on both sides
    assert str(error.value).startswith(f"cannot make a stratified split of {rare} (") and str(error.value).endswith(
        "); every class needs rows on both sides.")


def test_boolean_labels_and_features_and_a_stratified_held_out_split(tmp_path):
    rows = ["flag,x,label"] + [f"{i % 2 == 0},{i},{i % 4 == 0}" for i in range(40)]
    path = write(tmp_path / "b.csv", "\n".join(rows) + "\n")
    ds = tables.load_csv_dataset(path, "label", test_fraction=0.25, seed=3)
    assert ds["class_names"] == ["0", "1"] and ds["y_train"].dtype == np.int64
    assert len(ds["y_test"]) == 10 and len(ds["y_train"]) == 30
    assert ds["y_train"].mean() == pytest.approx(0.25, abs=0.02)  # stratified: a quarter on both sides
    assert ds["y_test"].mean() == pytest.approx(0.25, abs=0.06)
    again = tables.load_csv_dataset(path, "label", test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again["x_test"], ds["x_test"])
    assert set(np.unique(ds["x_train"][:, 0])) == {0.0, 1.0}  # a boolean feature as 0/1


def test_spaces_after_the_delimiter_and_a_chosen_delimiter(tmp_path):
    """', '-separated files: a quoted label may hold the delimiter, a blank cell is a missing value (not a
    text column); a ';' file whose header holds commas is read on the ';' it is given (a guess takes ',')."""
    spaced = write(tmp_path / "s.csv", 'x, label\n1, "cat, small"\n2, "dog, big"\n3, "cat, small"\n')
    ds = tables.load_csv_dataset(spaced, "label")
    assert ds["class_names"] == ["cat, small", "dog, big"] and ds["y_train"].tolist() == [0, 1, 0]
    assert ds["y_train"].dtype == np.int64
    blank = write(tmp_path / "b.csv", "a, b, y\n1, 2, 0\n3, , 1\n")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(blank, "y")
    assert str(error.value) == (f"{blank}: missing or non-finite values in column(s) b (first on line 3); "
                                "fill or remove those rows.")
    semicolons = write(tmp_path / "eu.csv", "weight, kg;height, cm;label\n1;2;0\n3;4;1\n")
    ds = tables.load_csv_dataset(semicolons, "label", delimiter=";")
    np.testing.assert_array_equal(ds["x_train"], [[1, 2], [3, 4]])
    tables.check_table_header(semicolons, "label", ["weight, kg"], [], "eu", delimiter=";")  # nothing to refuse


def test_unreadable_and_empty_tables_word_for_word(tmp_path):
    header_only = write(tmp_path / "h.csv", "a,y\n")
    ragged = write(tmp_path / "r.csv", "a,y\n1,0\n1,2,3,4\n")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(header_only, "y")
    assert str(error.value) == f"{header_only} has a header but no rows."
    one_row = tables.load_csv_dataset(write(tmp_path / "one.csv", "a,y\n1,0\n2,1\n"), "y")
    assert one_row["y_train"].tolist() == [0, 1]
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(ragged, "y")
    assert str(error.value).startswith(f"cannot read {ragged} as CSV (")
    assert str(error.value).endswith("); it needs a header row and ','-separated values.")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(tmp_path / "nope.csv", "y")
    assert str(error.value) == (f"CSV dataset {tmp_path / 'nope.csv'} does not exist; give the path of a CSV file "
                                "with a header row.")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(write(tmp_path / "t.csv", "city,town,x,y\nParis,Lyon,1,0\n"), "y")
    assert str(error.value).startswith(f"{tmp_path / 't.csv'}: feature column(s) city, town are not numeric;")
    single = write(tmp_path / "single.csv", "a,y\n1,0\n2,0\n")
    with pytest.raises(DataError) as error:
        tables.load_csv_dataset(single, "y")
    assert str(error.value) == f"{single}: the label column 'y' has a single class ('0'); a classifier needs at least two."


def test_held_out_split_sizes_seed_and_bounds(fraud_csv):
    half = tables.load_csv_dataset(fraud_csv, "Class", test_fraction=0.5)
    assert half["x_train"].shape == (6, 3) and half["x_test"].shape == (6, 3)
    assert len(half["y_train"]) == 6 and len(half["y_test"]) == 6
    assert half["y_test"].sum() == 2  # 4 frauds of 12: 2 on each side
    # every row once, with its own label (the fixture's label is 1 where Time is a multiple of 3)
    assert sorted(np.concatenate([half["x_train"][:, 0], half["x_test"][:, 0]]).tolist()) == list(range(12))
    for x, y in ((half["x_train"], half["y_train"]), (half["x_test"], half["y_test"])):
        assert y.tolist() == [int(int(t) % 3 == 0) for t in x[:, 0]]
    seeded = tables.load_csv_dataset(fraud_csv, "Class", test_fraction=0.5, seed=0)
    np.testing.assert_array_equal(half["x_test"], seeded["x_test"])  # the default seed is 0
    other = tables.load_csv_dataset(fraud_csv, "Class", test_fraction=0.5, seed=1)
    assert not np.array_equal(half["x_test"], other["x_test"])
    for fraction in (0, 1, 1.5):
        with pytest.raises(DataError) as error:
            tables.load_csv_dataset(fraud_csv, "Class", test_fraction=fraction)
        assert str(error.value) == f"test_fraction must be between 0 and 1, got {fraction}"


def test_check_table_header_refuses_what_the_prepare_job_would(tmp_path, fraud_csv):
    """The planning check: the same words as load_csv_dataset, from the header and the label column."""
    def refusal(path, label="Class", features=None, splits_=()):
        with pytest.raises(DataError) as error:
            tables.check_table_header(path, label, features, list(splits_), "fraud")
        return str(error.value)

    assert tables.check_table_header(tmp_path / "later.csv", "Class", None, ["70-30"], "fraud") is None  # not yet
    tables.check_table_header(fraud_csv, "Class", ["V1"], ["official", "75-25"], "fraud")
    # a header with spaces around its names: the label found under its stripped name
    tables.check_table_header(write(tmp_path / "sp.csv", "a , y \n1, 0\n2, 1\n3, 0\n4, 1\n"), "y", None, ["50-50"],
                              "sp")
    empty = write(tmp_path / "empty.csv", "")
    assert refusal(empty).startswith(f"cannot read {empty} as CSV (")
    assert refusal(empty).endswith("); it needs a header row and ','-separated values.")
    assert refusal(fraud_csv, label="label") == (
        f"{fraud_csv} has no label column 'label'; its columns are: Time, V1, Amount, Class. "
        "Set the dataset's `label:` option to one of them.")
    assert refusal(fraud_csv, features=["V2"]) == (
        f"{fraud_csv} has no feature column(s) V2; its columns are: Time, V1, Amount, Class")
    header_only = write(tmp_path / "h.csv", "a,Class\n")
    assert refusal(header_only) == f"{header_only} has a header but no rows."
    holes = write(tmp_path / "holes.csv", "a,Class\n1,0\n2,\n3,1\n")
    assert refusal(holes) == f"{holes}: the label column 'Class' is empty on line(s) [3]; fill or remove those rows."
    single = write(tmp_path / "single.csv", "a,Class\n1,0\n2,0\n")
    assert refusal(single) == (f"{single}: the label column 'Class' has a single class ('0'); a classifier needs "
                               "at least two.")
    rare = write(tmp_path / "rare.csv", "a,Class\n1,0\n2,0\n3,1\n4,0\n")
    tables.check_table_header(rare, "Class", None, ["official"], "fraud")  # the official split is not made here
    message = refusal(rare, splits_=["official", "50-50"])  # class 1 has one row: not on both sides
    assert message.startswith("cannot make a stratified 50-50 split of 'fraud' (")
    assert message.endswith("); every class needs enough rows for both sides.")
