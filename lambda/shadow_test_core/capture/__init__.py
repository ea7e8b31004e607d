"""The capture comparison: records, pairing, answers, agreement and ground truth."""
