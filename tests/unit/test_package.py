import kvs_sim


def test_version_is_a_string() -> None:
    assert isinstance(kvs_sim.__version__, str)
    assert kvs_sim.__version__.count(".") == 2
