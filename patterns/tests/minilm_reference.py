"""A plain numpy forward pass of all-MiniLM-L6-v2, written apart from ``patterns.encoders.news``
so that the ONNX pipeline can be checked against it (and for ``bench/patterns_news.py``).

Nothing is shared with the code under test except the tokenizer file: the safetensors file is
parsed here by hand (8-byte little-endian header length, a JSON header of name -> dtype, shape and
byte offsets, then the raw little-endian tensors), the architecture constants are those of the
model card (BERT, 6 layers, 384 hidden, 12 heads, exact GELU, LayerNorm eps 1e-12, mean pooling,
L2 normalisation, 256 wordpieces), each text runs alone (no padding, no attention mask), and
truncation is done here (keep the first 254 wordpieces between [CLS] and [SEP]).

The default dtype is float64; ``erf`` is the Numerical Recipes ``erfcc`` Chebyshev fit
(fractional error of erfc below 1.2e-7, checked against ``math.erf`` by the tests), so the
reference is accurate to float32 level while staying vectorised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

LAYERS = 6
HIDDEN = 384
HEADS = 12
EPS = 1e-12
MAX_TOKENS = 256
CLS, SEP = "[CLS]", "[SEP]"

_SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file as a read-only numpy array (memory-mapped)."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    header_length = int(raw[:8].view("<u8")[0])
    header = json.loads(bytes(raw[8 : 8 + header_length]))
    base = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = raw[base + begin : base + end].view(_SAFETENSORS_DTYPES[entry["dtype"]]).reshape(entry["shape"])
    return tensors


def erf(x: np.ndarray) -> np.ndarray:
    """Numerical Recipes ``erfcc``: erf(x) = 1 - erfc(x), erfc fractional error < 1.2e-7."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -0.82215223 + t * 0.17087277
    for coefficient in (1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368):
        poly = coefficient + t * poly
    erfc = t * np.exp(-z * z - 1.26551223 + t * poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


class MiniLMReference:
    """``embed(texts)`` -> (n, 384) unit vectors, one text at a time."""

    def __init__(self, model_dir: Path, dtype: type = np.float64) -> None:
        from tokenizers import Tokenizer

        self.dtype = dtype
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls_id = self.tokenizer.token_to_id(CLS)
        self.sep_id = self.tokenizer.token_to_id(SEP)
        w = {
            name: np.asarray(array, dtype=dtype)
            for name, array in read_safetensors(model_dir / "model.safetensors").items()
        }
        self.w = w
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]

    def token_ids(self, text: str) -> list[int]:
        """[CLS] wordpieces [SEP], keeping the first MAX_TOKENS - 2 wordpieces."""
        pieces = self.tokenizer.encode(text, add_special_tokens=False).ids
        return [self.cls_id, *pieces[: MAX_TOKENS - 2], self.sep_id]

    def _layer_norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + EPS) * self.w[f"{prefix}.weight"] + self.w[f"{prefix}.bias"]

    def _linear(self, x: np.ndarray, prefix: str) -> np.ndarray:
        return x @ self.w[f"{prefix}.weight"].T + self.w[f"{prefix}.bias"]

    def embed_ids(self, ids: list[int]) -> np.ndarray:
        length = len(ids)
        x = self.word[ids] + self.token_type + self.position[:length]
        x = self._layer_norm(x, "embeddings.LayerNorm")
        head = HIDDEN // HEADS
        for index in range(LAYERS):
            p = f"encoder.layer.{index}"

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(length, HEADS, head).transpose(1, 0, 2)  # heads, tokens, head dim

            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probabilities = scores / scores.sum(axis=-1, keepdims=True)
            context = (probabilities @ v).transpose(1, 0, 2).reshape(length, HIDDEN)
            attended = self._layer_norm(
                self._linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm"
            )
            inner = self._linear(attended, f"{p}.intermediate.dense")
            gelu = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))
            x = self._layer_norm(self._linear(gelu, f"{p}.output.dense") + attended, f"{p}.output.LayerNorm")
        pooled = x.mean(axis=0)
        return pooled / np.linalg.norm(pooled)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.embed_ids(self.token_ids(text)) for text in texts]).reshape(len(texts), HIDDEN)
