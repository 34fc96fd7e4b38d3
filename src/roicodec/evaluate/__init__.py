"""Measuring roicodec against other codecs: metrics and classical baselines."""
