"""Data sets and batching.

load_digits()            the 8x8 digits that ship with the package (1797 images)
load_mnist(root)         MNIST, read from IDX files (downloaded once into root)
read_idx / write_idx     the IDX file format itself
TensorDataset            tensors that share their first dimension
DataLoader               mini-batches as tuples of torch tensors, seeded shuffling
DistributedSampler       each process's shard of every epoch, for data-parallel training
train_test_split         a shuffled split into training and test sets
load_shakespeare()       two plays of Shakespeare (public domain), for character models
CharVocabulary           characters <-> integer ids
split_text, random_blocks, blocks   a held-out end; (input, next-character) blocks
"""

from minigrad.data.digits import load_digits
from minigrad.data.idx import IDXError, parse_idx, read_idx, write_idx
from minigrad.data.mnist import DownloadError, load_mnist
from minigrad.data.distributed_sampler import DistributedSampler
from minigrad.data.loader import DataLoader, TensorDataset, train_test_split
from minigrad.data.text import (
    CharVocabulary,
    blocks,
    load_shakespeare,
    random_blocks,
    split_text,
)

__all__ = [
    "load_digits",
    "load_mnist",
    "read_idx",
    "write_idx",
    "parse_idx",
    "IDXError",
    "DownloadError",
    "TensorDataset",
    "DataLoader",
    "DistributedSampler",
    "train_test_split",
    "load_shakespeare",
    "CharVocabulary",
    "split_text",
    "random_blocks",
    "blocks",
]
