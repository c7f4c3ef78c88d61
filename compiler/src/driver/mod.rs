//! Stage orchestration for the binary and the library API.
