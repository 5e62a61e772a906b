from tests.quizzes.conftest import bank, bank_document  # noqa: F401  (the same small question bank)
