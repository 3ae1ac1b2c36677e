import sys

from greeting import greet


def main() -> None:
    args = sys.argv[1:]
    print(greet(args[0] if args else "world", args[1] if len(args) > 1 else "en"))


if __name__ == "__main__":
    main()
