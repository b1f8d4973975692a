"""The span store on a URI filesystem (TF's ram://, standing in for gs://)."""
import tensorflow as tf

from components.span_window import store

ROOT = "ram://span_store_test"


def test_index_round_trips_and_replaces_atomically():
    span_store = f"{ROOT}/index"
    assert store.read_index(span_store) == {}
    store.write_index(span_store, {2: {"uri": "a"}, 10: {"uri": "b"}})
    store.write_index(span_store, {2: {"uri": "c"}})
    assert store.read_index(span_store) == {2: {"uri": "c"}}
    assert not tf.io.gfile.glob(f"{span_store}/*.partial")


def test_recorded_examples_are_reused_only_if_present_and_unchanged():
    uri = f"{ROOT}/examples/span-1"
    tf.io.gfile.makedirs(uri)
    entry = {"uri": uri, "fingerprint": "f1"}
    assert store.reusable(entry, "f1")
    assert not store.reusable(entry, "f2")
    assert not store.reusable({"uri": f"{ROOT}/gone", "fingerprint": "f1"}, "f1")
    assert not store.reusable(None, "f1")


def test_ingest_uri_is_per_span_and_content():
    a = store.ingest_uri(ROOT, 3, "f1")
    assert a.startswith(f"{ROOT}/span-3/")
    assert a != store.ingest_uri(ROOT, 3, "f2")


def test_the_analyzer_cache_pointer_ignores_a_deleted_cache():
    span_store = f"{ROOT}/cache"
    assert store.analyzer_cache_uri(span_store) is None
    cache = f"{ROOT}/caches/7"
    tf.io.gfile.makedirs(cache)
    store.record_analyzer_cache(span_store, cache)
    assert store.analyzer_cache_uri(span_store) == cache
    tf.io.gfile.rmtree(cache)
    assert store.analyzer_cache_uri(span_store) is None


def test_a_manifest_is_found_only_in_a_window():
    assert store.read_manifest(f"{ROOT}/plain") is None
    store.write_manifest(f"{ROOT}/window", "s", [{"span": 2}])
    assert store.read_manifest(f"{ROOT}/window") == {
        "store": "s", "members": [{"span": 2}]}
