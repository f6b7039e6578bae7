"""codesign: hardware-software co-design search for small CNNs on inference accelerators."""

__version__ = "0.1.0"
