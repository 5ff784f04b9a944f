"""Password rules, with messages in the user's language."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


class MinimumLengthValidator:
    """Django's own message for this changed in 5.2 and lost its Chinese translation; ours has both."""

    def __init__(self, min_length: int = 10):
        self.min_length = min_length

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) < self.min_length:
            raise ValidationError(self.get_help_text(), code="password_too_short")

    def get_help_text(self) -> str:
        return ngettext("密码至少需要 %(n)d 个字符。", "密码至少需要 %(n)d 个字符。", self.min_length) % {
            "n": self.min_length
        }


class CharacterClassValidator:
    """Password complexity: at least `min_classes` of lower case, upper case, digits and symbols."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    @staticmethod
    def classes(password: str) -> int:
        return sum(
            (
                any(c.islower() for c in password),
                any(c.isupper() for c in password),
                any(c.isdigit() for c in password),
                any(not c.isalnum() for c in password),
            )
        )

    def validate(self, password: str, user: Any = None) -> None:
        if self.classes(password) < self.min_classes:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self) -> str:
        return ngettext(
            "密码须包含小写字母、大写字母、数字、符号中的至少 %(n)d 类。",
            "密码须包含小写字母、大写字母、数字、符号中的至少 %(n)d 类。",
            self.min_classes,
        ) % {"n": self.min_classes}
