//! The stable error codes of the parser (`E01xx`), one per kind of mistake.
//! grammar/README.md lists them with an example each; keep the two in step.

/// A syntax error not covered by a more specific code below.
pub const SYNTAX: &str = "E0101";
/// A keyword used where a name is expected (`param model = 1`).
pub const KEYWORD_AS_NAME: &str = "E0102";
/// A malformed number (`1.2.3`, `2x`, `1e`) or one outside the float64 range.
pub const BAD_NUMBER: &str = "E0103";
/// A shape dimension that is not a whole-number literal (`[2.5]`, `[n]`).
pub const BAD_SHAPE_DIM: &str = "E0104";
/// An escape other than `\"` and `\\` in a string.
pub const BAD_ESCAPE: &str = "E0105";
/// A string without its closing `"` on the same line.
pub const UNTERMINATED_STRING: &str = "E0106";
/// A `/*` comment without its `*/`.
pub const UNTERMINATED_COMMENT: &str = "E0107";
/// A `(`, `[` or `{` still open at the end of the file (or before the next item).
pub const UNCLOSED_DELIMITER: &str = "E0108";
/// A `)`, `]` or `}` with nothing open.
pub const STRAY_CLOSER: &str = "E0109";
// E0110 (a reserved construct not supported yet) is retired: `output`,
// its only use, is parsed now.
/// A model member (declaration or equation) outside a model.
pub const MEMBER_OUTSIDE_MODEL: &str = "E0111";
/// An unknown word where an item or a model member must start (`modle`).
pub const UNKNOWN_START: &str = "E0112";
/// `->` anywhere but directly in a call argument.
pub const MISPLACED_ARROW: &str = "E0113";
/// An item keyword (`const`, `model`, ...) inside a model.
pub const ITEM_IN_MODEL: &str = "E0114";
/// Brackets or expressions nested too deeply to handle.
pub const TOO_DEEP: &str = "E0115";
/// A character that belongs to no token (`;`, `#`, `σ`).
pub const UNKNOWN_CHAR: &str = "E0116";
