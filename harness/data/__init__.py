"""Datasets that install offline and a user's own files (.npz samples, .csv time series):
loaders, validation, class selection, splits, windows, transforms, and packing of samples into
int8 for the device."""
from .dataset import LOADERS, Dataset, DatasetSpec, load_dataset
from .pack import PackedSamples, pack_images, pack_labels, pack_samples
from .transforms import DomainShift

__all__ = ["LOADERS", "Dataset", "DatasetSpec", "DomainShift", "PackedSamples", "load_dataset",
           "pack_images", "pack_labels", "pack_samples"]
