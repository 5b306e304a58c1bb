"""One class per endpoint group. Each method builds one request and returns a model."""

from .files import Files
from .fine_tuning import FineTuning
from .models import Models
from .uploads import Uploads

__all__ = ["Files", "FineTuning", "Models", "Uploads"]
