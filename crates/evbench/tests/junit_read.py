#!/usr/bin/env python3
"""Reads a JUnit XML file with junitparser (an outside reader, as CI systems' are) and prints
what it understood as JSON: per suite its name, counts and properties, per test case its name,
class name and results (kind, message, text). Used by crates/evbench/tests/command_engine.rs."""
import json
import sys

from junitparser import JUnitXml

xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    suites.append({
        "name": suite.name,
        "tests": suite.tests,
        "failures": suite.failures,
        "errors": suite.errors,
        "properties": {p.name: p.value for p in suite.properties()},
        "cases": [
            {
                "name": case.name,
                "classname": case.classname,
                "passed": case.is_passed,
                "results": [
                    {"kind": type(r).__name__, "message": r.message, "text": r.text}
                    for r in case.result
                ],
            }
            for case in suite
        ],
    })
print(json.dumps({"suites": suites}))
