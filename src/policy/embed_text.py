#!/usr/bin/env python3
"""Writes a C++ source defining one string constant with a file's text.

embed_text.py INPUT OUTPUT NAMESPACE NAME
"""
import sys

src, out, namespace, name = sys.argv[1:5]
with open(src, encoding="utf-8") as f:
    text = f.read()
delimiter = "vc_embedded"
if ")" + delimiter + '"' in text:
    sys.exit(f"{src}: contains the raw-string delimiter {delimiter}")
with open(out, "w", encoding="utf-8") as f:
    f.write(f"// Generated from {src.split('/')[-1]} by embed_text.py; do not edit.\n")
    f.write("#include <string_view>\n")
    f.write(f"namespace {namespace} {{\n")
    f.write(f"extern const std::string_view {name};\n")
    f.write(f'const std::string_view {name} = R"{delimiter}({text}){delimiter}";\n')
    f.write("}\n")
