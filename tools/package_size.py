"""Deployment-package sizes as Lambda receives them.

Each file given is zipped alone as an executable `bootstrap` (deflate, level 9), as `sam build`
packs a provided.al2023 function. One tab-separated line per file:
<path> <bootstrap bytes> <zipped bytes> <arm64|not-arm64>
"""
import io
import sys
import zipfile


def sizes(path):
    data = open(path, "rb").read()
    # ELF e_machine 183 is AArch64.
    arm64 = data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 183
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        entry = zipfile.ZipInfo("bootstrap")
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = 0o755 << 16  # executable, as Lambda needs
        archive.writestr(entry, data)
    return len(data), len(buffer.getvalue()), "arm64" if arm64 else "not-arm64"


if __name__ == "__main__":
    for path in sys.argv[1:]:
        raw, zipped, arch = sizes(path)
        print(f"{path}\t{raw}\t{zipped}\t{arch}")
