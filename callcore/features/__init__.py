"""The centre's features, one folder each."""
