//! `if` conditions: a small expression language over variables and step outputs, parsed
//! when the workflow is validated (so typos surface before anything runs) and evaluated
//! when the step is reached.
//!
//! Grammar, loosest first: `a || b`, `a && b`, `a == b` / `a != b`, `!a`, `(a)`; operands
//! are references, quoted strings, numbers, `true` and `false`.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Number, Value};

use crate::template::{self, Context, Reference, RenderError, SyntaxError};

/// Deepest nesting of parentheses and `!` a condition may use; deeper input is rejected
/// rather than risking the stack.
const MAX_DEPTH: usize = 32;

/// A parsed `if` condition of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    source: String,
    step: String,
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    /// `a || b || ...`
    Any(Vec<Expr>),
    /// `a && b && ...`
    All(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        left: Box<Expr>,
        right: Box<Expr>,
        equal: bool,
    },
    Ref(Reference, Range<usize>),
    Literal(Value),
}

impl Condition {
    /// Parses the condition of step `step`.
    pub(crate) fn parse(source: &str, step: &str) -> Result<Condition, SyntaxError> {
        let tokens = lex(source)?;
        let mut parser = Parser {
            source,
            tokens,
            next: 0,
            depth: 0,
        };
        let expr = parser.any()?;
        if let Some(token) = parser.tokens.get(parser.next) {
            return Err(parser.error_at(token, "expected `&&`, `||` or the end of the condition"));
        }
        Ok(Condition {
            source: source.to_owned(),
            step: step.to_owned(),
            expr,
        })
    }

    /// The condition as written in the workflow.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition. `&&` and `||` short-circuit, so a reference on the side
    /// not taken need not resolve.
    pub fn eval(&self, ctx: &Context<'_>) -> Result<bool, RenderError> {
        let value = self.value(&self.expr, ctx)?;
        Ok(truthy(&value))
    }

    /// The references the condition makes, with their byte ranges in `source()`.
    pub(crate) fn references(&self) -> Vec<(Reference, Range<usize>)> {
        let mut found = Vec::new();
        let mut pending = vec![&self.expr];
        while let Some(expr) = pending.pop() {
            match expr {
                Expr::Any(items) | Expr::All(items) => pending.extend(items.iter().rev()),
                Expr::Not(inner) => pending.push(inner),
                Expr::Compare { left, right, .. } => pending.extend([&**right, &**left]),
                Expr::Ref(reference, range) => found.push((reference.clone(), range.clone())),
                Expr::Literal(_) => {}
            }
        }
        found
    }

    fn value<'c>(&self, expr: &'c Expr, ctx: &Context<'c>) -> Result<Cow<'c, Value>, RenderError> {
        let boolean = |b: bool| Cow::Owned(Value::Bool(b));
        Ok(match expr {
            Expr::Any(items) => {
                for item in items {
                    if truthy(self.value(item, ctx)?.as_ref()) {
                        return Ok(boolean(true));
                    }
                }
                boolean(false)
            }
            Expr::All(items) => {
                for item in items {
                    if !truthy(self.value(item, ctx)?.as_ref()) {
                        return Ok(boolean(false));
                    }
                }
                boolean(true)
            }
            Expr::Not(inner) => boolean(!truthy(self.value(inner, ctx)?.as_ref())),
            Expr::Compare { left, right, equal } => boolean(
                same(
                    self.value(left, ctx)?.as_ref(),
                    self.value(right, ctx)?.as_ref(),
                ) == *equal,
            ),
            Expr::Ref(reference, _) => Cow::Borrowed(ctx.resolve(&self.step, reference)?),
            Expr::Literal(value) => Cow::Borrowed(value),
        })
    }
}

/// false, null, "", "false" and 0 are false; everything else is true.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !(s.is_empty() || s == "false"),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Equality: numbers by value, same-typed values structurally, and values of different
/// types by their text, so `${vars.replicas} == '3'` holds when replicas is 3.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => a == b,
        _ => template::stringify(a) == template::stringify(b),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ref(Reference),
    Literal(Value),
    Equal,
    NotEqual,
    And,
    Or,
    Not,
    Open,
    Close,
}

struct Lexed {
    token: Token,
    range: Range<usize>,
}

fn lex(source: &str) -> Result<Vec<Lexed>, SyntaxError> {
    let mut tokens = Vec::new();
    let bytes = source.as_bytes();
    let mut at = 0;
    let error = |range: Range<usize>, message: String, help: Option<&str>| SyntaxError {
        range,
        message,
        help: help.map(str::to_owned),
    };
    while at < source.len() {
        let rest = &source[at..];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        let (token, len) = if rest.starts_with("${") {
            let (reference, end) = template::parse_reference(source, at)?;
            (Token::Ref(reference), end - at)
        } else if c == '\'' || c == '"' {
            let Some(close) = rest[1..].find(c) else {
                return Err(error(
                    at..at + 1,
                    "unterminated string literal".into(),
                    None,
                ));
            };
            (
                Token::Literal(Value::String(rest[1..1 + close].to_owned())),
                close + 2,
            )
        } else if c.is_ascii_digit()
            || (c == '-' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit))
        {
            let len = 1 + rest[1..]
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len() - 1);
            let text = &rest[..len];
            let number = text
                .parse::<i64>()
                .ok()
                .map(Number::from)
                .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64));
            let Some(number) = number else {
                return Err(error(
                    at..at + len,
                    format!("invalid number `{text}`"),
                    None,
                ));
            };
            (Token::Literal(Value::Number(number)), len)
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            match &rest[..len] {
                "true" => (Token::Literal(Value::Bool(true)), len),
                "false" => (Token::Literal(Value::Bool(false)), len),
                word => {
                    return Err(error(
                        at..at + len,
                        format!("unknown word `{word}`"),
                        Some(
                            "quote text ('prod'), or refer to a value with ${vars.NAME} or ${steps.ID.outputs.KEY}",
                        ),
                    ));
                }
            }
        } else {
            let two = rest.get(..2).unwrap_or(rest);
            match two {
                "==" => (Token::Equal, 2),
                "!=" => (Token::NotEqual, 2),
                "&&" => (Token::And, 2),
                "||" => (Token::Or, 2),
                _ => match c {
                    '!' => (Token::Not, 1),
                    '(' => (Token::Open, 1),
                    ')' => (Token::Close, 1),
                    '=' => {
                        return Err(error(
                            at..at + 1,
                            "unexpected `=`".into(),
                            Some("compare with `==`"),
                        ));
                    }
                    '&' => {
                        return Err(error(
                            at..at + 1,
                            "unexpected `&`".into(),
                            Some("write `&&` for \"and\""),
                        ));
                    }
                    '|' => {
                        return Err(error(
                            at..at + 1,
                            "unexpected `|`".into(),
                            Some("write `||` for \"or\""),
                        ));
                    }
                    other => {
                        return Err(error(
                            at..at + other.len_utf8(),
                            format!("unexpected character `{other}`"),
                            None,
                        ));
                    }
                },
            }
        };
        tokens.push(Lexed {
            token,
            range: at..at + len,
        });
        at += len;
    }
    Ok(tokens)
}

struct Parser<'s> {
    source: &'s str,
    tokens: Vec<Lexed>,
    next: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|t| &t.token)
    }

    fn error_at(&self, token: &Lexed, expected: &str) -> SyntaxError {
        SyntaxError {
            range: token.range.clone(),
            message: format!("{expected}, found `{}`", &self.source[token.range.clone()]),
            help: None,
        }
    }

    /// An error at the current token, or at the end of the condition.
    fn error_here(&self, expected: &str) -> SyntaxError {
        match self.tokens.get(self.next) {
            Some(token) => self.error_at(token, expected),
            None => SyntaxError {
                range: self.source.len()..self.source.len(),
                message: format!("{expected}, found the end of the condition"),
                help: None,
            },
        }
    }

    fn any(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.all()?];
        while self.peek() == Some(&Token::Or) {
            self.next += 1;
            items.push(self.all()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Any(items)
        })
    }

    fn all(&mut self) -> Result<Expr, SyntaxError> {
        let mut items = vec![self.compare()?];
        while self.peek() == Some(&Token::And) {
            self.next += 1;
            items.push(self.compare()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::All(items)
        })
    }

    fn compare(&mut self) -> Result<Expr, SyntaxError> {
        let left = self.unary()?;
        let equal = match self.peek() {
            Some(Token::Equal) => true,
            Some(Token::NotEqual) => false,
            _ => return Ok(left),
        };
        self.next += 1;
        let right = self.unary()?;
        Ok(Expr::Compare {
            left: Box::new(left),
            right: Box::new(right),
            equal,
        })
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        let Some(lexed) = self.tokens.get(self.next) else {
            return Err(self.error_here("expected a value"));
        };
        let range = lexed.range.clone();
        match &lexed.token {
            Token::Not => self.nested(range, |p| Ok(Expr::Not(Box::new(p.unary()?)))),
            Token::Open => self.nested(range, |p| {
                let inner = p.any()?;
                if p.peek() != Some(&Token::Close) {
                    return Err(p.error_here("expected `)`"));
                }
                p.next += 1;
                Ok(inner)
            }),
            Token::Ref(reference) => {
                let expr = Expr::Ref(reference.clone(), range);
                self.next += 1;
                Ok(expr)
            }
            Token::Literal(value) => {
                let expr = Expr::Literal(value.clone());
                self.next += 1;
                Ok(expr)
            }
            _ => Err(self.error_here("expected a value")),
        }
    }

    /// Consumes the opening token at `range` and parses one nesting level deeper.
    fn nested(
        &mut self,
        range: Range<usize>,
        inner: impl FnOnce(&mut Self) -> Result<Expr, SyntaxError>,
    ) -> Result<Expr, SyntaxError> {
        if self.depth == MAX_DEPTH {
            return Err(SyntaxError {
                range,
                message: format!("condition nests deeper than {MAX_DEPTH} levels"),
                help: None,
            });
        }
        self.next += 1;
        self.depth += 1;
        let expr = inner(self);
        self.depth -= 1;
        expr
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Map, json};

    use super::*;

    fn eval(source: &str) -> Result<bool, RenderError> {
        let vars = BTreeMap::from([
            ("env".to_owned(), json!("prod")),
            ("n".to_owned(), json!(3)),
            ("zero".to_owned(), json!(0)),
            ("empty".to_owned(), json!("")),
            ("no".to_owned(), json!("false")),
            ("yes".to_owned(), json!(true)),
            ("ratio".to_owned(), json!(1.5)),
        ]);
        let mut check = Map::new();
        check.insert("skip".into(), json!(false));
        check.insert("none".into(), Value::Null);
        let outputs = BTreeMap::from([("check".to_owned(), check)]);
        Condition::parse(source, "s").unwrap().eval(&Context {
            vars: &vars,
            outputs: &outputs,
        })
    }

    #[test]
    fn truth_table() {
        let cases = [
            ("true", true),
            ("false", false),
            ("${vars.yes}", true),
            ("${vars.zero}", false),
            ("0", false),
            ("1", true),
            ("-2.5", true),
            ("${vars.empty}", false),
            ("${vars.no}", false),
            ("'0'", true),
            ("${steps.check.outputs.none}", false),
            ("!${steps.check.outputs.skip}", true),
            (
                "${vars.env} == 'prod' && !${steps.check.outputs.skip}",
                true,
            ),
            ("${vars.env} == \"dev\" || ${vars.n} == 3", true),
            ("${vars.env} != 'prod'", false),
            ("${vars.n} == '3'", true),
            ("${vars.n} == 3.0", true),
            ("${vars.ratio} == 1.5", true),
            ("${vars.yes} == 'true'", true),
            ("true && false || true", true),
            ("true && (false || false)", false),
            ("!(${vars.n} == 4)", true),
            ("!!${vars.yes}", true),
        ];
        for (source, expected) in cases {
            assert_eq!(eval(source).unwrap(), expected, "{source}");
        }
    }

    #[test]
    fn short_circuits_past_missing_outputs() {
        assert!(!eval("false && ${steps.later.outputs.x}").unwrap());
        assert!(eval("true || ${steps.later.outputs.x}").unwrap());
        let err = eval("true && ${steps.later.outputs.x}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `s`: `${steps.later.outputs.x}`: step `later` has produced no outputs (it has not run, or was skipped)"
        );
        let err = eval("${steps.check.outputs.nope}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `s`: `${steps.check.outputs.nope}`: step `check` produced no output `nope`"
        );
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let cases: [(&str, Range<usize>, &str); 9] = [
            (
                "${vars.a} == ",
                13..13,
                "expected a value, found the end of the condition",
            ),
            ("${vars.a} = 'x'", 10..11, "unexpected `=`"),
            ("${vars.a} == prod", 13..17, "unknown word `prod`"),
            (
                "(${vars.a} == 'x'",
                17..17,
                "expected `)`, found the end of the condition",
            ),
            (
                "${vars.a} 'x'",
                10..13,
                "expected `&&`, `||` or the end of the condition, found `'x'`",
            ),
            ("&& true", 0..2, "expected a value, found `&&`"),
            ("'open", 0..1, "unterminated string literal"),
            ("true && ${vars}", 8..15, "invalid reference `${vars}`"),
            ("1 ~ 2", 2..3, "unexpected character `~`"),
        ];
        for (source, range, message) in cases {
            let e = Condition::parse(source, "s").unwrap_err();
            assert_eq!((e.range, e.message.as_str()), (range, message), "{source}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = format!("{}true{}", "(".repeat(100_000), ")".repeat(100_000));
        let e = Condition::parse(&deep, "s").unwrap_err();
        assert_eq!(
            (e.range, e.message.as_str()),
            (32..33, "condition nests deeper than 32 levels")
        );
        let nots = format!("{}true", "!".repeat(100_000));
        assert!(Condition::parse(&nots, "s").is_err());
        let ok = format!("{}true{}", "(".repeat(32), ")".repeat(32));
        assert!(Condition::parse(&ok, "s").is_ok());
        let long_chain = vec!["true"; 50_000].join(" && ");
        assert!(
            Condition::parse(&long_chain, "s")
                .unwrap()
                .eval(&Context {
                    vars: &BTreeMap::new(),
                    outputs: &BTreeMap::new()
                })
                .unwrap()
        );
    }

    #[test]
    fn lists_references_in_order() {
        let c = Condition::parse("${vars.a} == 'x' && !(${steps.b.outputs.k})", "s").unwrap();
        let refs = c.references();
        assert_eq!(refs[0], (Reference::Var("a".into()), 0..9));
        assert_eq!(
            refs[1],
            (
                Reference::Output {
                    step: "b".into(),
                    key: "k".into()
                },
                22..42
            )
        );
    }
}
