//! Wire-level conformance tests (see protocol-tests/README.md).
