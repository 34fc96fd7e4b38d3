"""Measuring roicodec against other codecs: metrics, classical baselines, and the ROI examples the benchmarks score on."""
