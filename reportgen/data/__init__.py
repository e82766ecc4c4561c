"""Dataset sources (files on disk, no network by default) and tensor splits with batch augmentation."""
