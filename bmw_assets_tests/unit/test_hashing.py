"""Content hashes: a file's hash is the sha256 of all its bytes, however many blocks it takes to read;
equal JSON values hash equally whatever their key order."""

import hashlib
import os

from bmw_assets.hashing import sha256_file, sha256_json, sha256_text


def test_a_file_hash_covers_every_byte_of_a_file_larger_than_one_read(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)  # several of file_digest's reads, and a partial last one
    path = tmp_path / "weights.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit of the last byte
    assert sha256_file(path) != hashlib.sha256(data).hexdigest()


def test_an_empty_file_hashes_like_empty_text(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == sha256_text("") == hashlib.sha256(b"").hexdigest()


def test_json_hashes_ignore_key_order_but_not_values():
    assert sha256_json({"a": 1, "b": [1, 2]}) == sha256_json({"b": [1, 2], "a": 1})
    assert sha256_json({"a": 1, "b": [1, 2]}) != sha256_json({"a": 1, "b": [2, 1]})
