"""`python -m images`: signing keys and bundles on the build host.

    python -m images keys DIR                      make the CA and a signing key pair in DIR
    python -m images rotate DIR NAME               issue a new signing key pair NAME under DIR's CA
    python -m images bundle ROOTFS OUT --keys DIR --version V   sign a root filesystem into a bundle
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from images.bundle import BundleError, build_bundle
from images.keys import SigningKeyError, SigningKeys, issue_signing_key, make_keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m images", description="pribox firmware keys and bundles")
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="make the CA and a signing key pair")
    keys.add_argument("directory")
    rotate = sub.add_parser("rotate", help="issue a new signing key pair under the existing CA")
    rotate.add_argument("directory")
    rotate.add_argument("name")
    bundle = sub.add_parser("bundle", help="sign a root filesystem image into a RAUC bundle")
    bundle.add_argument("rootfs")
    bundle.add_argument("output")
    bundle.add_argument("--keys", required=True, help="directory made by 'keys'")
    bundle.add_argument("--signer", default="signing", help="which signing key pair in --keys (default: signing)")
    bundle.add_argument("--version", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "keys":
            made = make_keys(args.directory)
            print(f"keyring (install on the box): {made.keyring}\nsigning cert: {made.cert}\nsigning key:  {made.key}")
        elif args.command == "rotate":
            d = Path(args.directory)
            made = issue_signing_key(d, d / "ca.key.pem", d / "ca.cert.pem", name=args.name)
            print(f"new signing cert: {made.cert}\nnew signing key:  {made.key}")
        else:
            d = Path(args.keys)
            signer = SigningKeys(d / "ca.cert.pem", d / f"{args.signer}.cert.pem", d / f"{args.signer}.key.pem")
            for path in (signer.cert, signer.key):
                if not path.exists():
                    raise BundleError(f"{path}: missing (make keys with 'python -m images keys {d}')")
            print(build_bundle(args.rootfs, args.output, signer, version=args.version))
    except (BundleError, SigningKeyError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
