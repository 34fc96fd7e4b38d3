"""Training: data, losses and the resumable loop behind `roicodec train`."""
