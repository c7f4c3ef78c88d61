//! Name resolution, imports and shape checking: AST -> checked program.
