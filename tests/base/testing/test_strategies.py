from hypothesis import given
from hypothesis import strategies as st

from tidewire.testing import chunkings, split_data


@given(st.binary(max_size=100), st.data())
def test_chunkings_join_back(data, drawer):
    chunks = drawer.draw(chunkings(data))
    assert b"".join(chunks) == data
    assert all(chunks) or chunks == [data]


@given(split_data())
def test_split_data(pair):
    data, chunks = pair
    assert b"".join(chunks) == data


@given(split_data(st.just(b"abc")))
def test_split_data_with_a_given_strategy(pair):
    assert pair[0] == b"abc"
