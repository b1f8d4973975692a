"""Commands that print a few lines must not be buried in library chatter."""
import logging
import os
import warnings


def quiet_libraries() -> None:
    """Silence TF (C++ and Python), absl, Beam and warnings; call before they load."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # read when TF loads
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "absl", "apache_beam"):
        logging.getLogger(name).setLevel(logging.ERROR)
