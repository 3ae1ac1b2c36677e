import unittest

from greeting import greet


class GreetTest(unittest.TestCase):
    def test_languages(self):
        self.assertEqual(greet("kiln", "fr"), "Bonjour, kiln!")

    def test_unknown_language_falls_back_to_english(self):
        self.assertEqual(greet("kiln", "xx"), "Hello, kiln!")


if __name__ == "__main__":
    unittest.main()
