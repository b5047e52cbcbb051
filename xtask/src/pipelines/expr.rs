//! GitHub Actions `${{ }}` expressions, evaluated for a rehearsal: context paths (`inputs.x`,
//! `needs.plan.outputs.count`, `matrix.rid`, `steps.plan.outputs.matrix`, `secrets['x']`),
//! literals, `!`, `==`, `!=`, `&&`, `||`, parentheses and the functions the workflows call
//! (`fromJSON`, `toJSON`, `contains`, `startsWith`, `endsWith`, `format`, `hashFiles`, and the
//! status checks `always`, `success`, `failure`, `cancelled`).

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};

/// The contexts an expression reads (`github`, `inputs`, `matrix`, `needs`, …) and the job's
/// status so far, for `success()`/`failure()`.
pub struct Scope<'a> {
    pub contexts: &'a Map<String, Value>,
    pub failed: bool,
}

/// Evaluates one expression (the text between `${{` and `}}`).
pub fn evaluate(expression: &str, scope: &Scope) -> Result<Value> {
    let tokens = tokenize(expression)?;
    let mut p = Parser {
        tokens,
        at: 0,
        scope,
    };
    let v = p.or()?;
    if p.at != p.tokens.len() {
        bail!("unexpected `{}` in `{expression}`", p.tokens[p.at].text());
    }
    Ok(v)
}

/// Replaces every `${{ … }}` in `text` with its value as a string; a text that is exactly one
/// expression keeps the value's type (so `matrix: ${{ fromJSON(…) }}` stays an object).
pub fn interpolate(text: &str, scope: &Scope) -> Result<Value> {
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("${{")
        .and_then(|t| t.strip_suffix("}}"))
        .filter(|inner| !inner.contains("${{"))
    {
        return evaluate(inner, scope);
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow!("`${{{{` without `}}}}` in `{text}`"))?;
        out.push_str(&to_text(&evaluate(&after[..end], scope)?));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

/// A value as Actions turns it into text (`null` is empty, objects are JSON).
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// Actions' truthiness: `false`, `0`, `''` and `null` are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Ident(s) | Token::Str(s) => s.clone(),
            Token::Num(n) => n.to_string(),
            Token::Op(o) => o.to_string(),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Token>> {
    const OPS: &[&str] = &[
        "==", "!=", "&&", "||", "<=", ">=", "!", "(", ")", "[", "]", ".", ",", "<", ">", "*",
    ];
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => bail!("unterminated string in `{s}`"),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Str(text));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token::Num(
                text.parse()
                    .map_err(|_| anyhow!("`{text}` is not a number in `{s}`"))?,
            ));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_-".contains(chars[i])) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..].iter().take(2).collect();
            let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) else {
                bail!("unexpected `{c}` in `{s}`");
            };
            out.push(Token::Op(op));
            i += op.len();
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    scope: &'a Scope<'a>,
}

impl Parser<'_> {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Op(o)) if *o == op)
    }

    fn expect(&mut self, op: &str) -> Result<()> {
        if !self.peek_op(op) {
            bail!(
                "expected `{op}`, found `{}`",
                self.tokens
                    .get(self.at)
                    .map_or("the end".into(), Token::text)
            );
        }
        self.at += 1;
        Ok(())
    }

    fn or(&mut self) -> Result<Value> {
        let mut left = self.and()?;
        while self.peek_op("||") {
            self.at += 1;
            let right = self.and()?;
            if !truthy(&left) {
                left = right;
            }
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Value> {
        let mut left = self.comparison()?;
        while self.peek_op("&&") {
            self.at += 1;
            let right = self.comparison()?;
            if truthy(&left) {
                left = right;
            }
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Value> {
        let left = self.unary()?;
        for op in ["==", "!="] {
            if self.peek_op(op) {
                self.at += 1;
                let right = self.unary()?;
                let same = loosely_equal(&left, &right);
                return Ok(Value::Bool(if op == "==" { same } else { !same }));
            }
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value> {
        if self.peek_op("!") {
            self.at += 1;
            return Ok(Value::Bool(!truthy(&self.unary()?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Value> {
        let mut v = self.primary()?;
        loop {
            if self.peek_op(".") {
                self.at += 1;
                match self.tokens.get(self.at).cloned() {
                    Some(Token::Ident(name)) => {
                        self.at += 1;
                        v = v.get(&name).cloned().unwrap_or(Value::Null);
                    }
                    Some(Token::Op("*")) => {
                        self.at += 1;
                    }
                    other => bail!(
                        "expected a property name after `.`, found `{}`",
                        other.map_or("the end".into(), |t| t.text())
                    ),
                }
            } else if self.peek_op("[") {
                self.at += 1;
                let key = self.or()?;
                self.expect("]")?;
                v = match (&v, &key) {
                    (Value::Array(a), Value::Number(n)) => n
                        .as_f64()
                        .and_then(|i| a.get(i as usize).cloned())
                        .unwrap_or(Value::Null),
                    _ => v.get(to_text(&key)).cloned().unwrap_or(Value::Null),
                };
            } else {
                return Ok(v);
            }
        }
    }

    fn primary(&mut self) -> Result<Value> {
        let Some(token) = self.tokens.get(self.at).cloned() else {
            bail!("the expression ends too early");
        };
        self.at += 1;
        match token {
            Token::Str(s) => Ok(Value::String(s)),
            // Whole numbers stay integers, so `format('{0}', 1)` reads `1` as in Actions.
            Token::Num(n) if n.fract() == 0.0 && n.abs() < 9e15 => Ok(serde_json::json!(n as i64)),
            Token::Num(n) => Ok(serde_json::json!(n)),
            Token::Op("(") => {
                let v = self.or()?;
                self.expect(")")?;
                Ok(v)
            }
            Token::Ident(name) if self.peek_op("(") => {
                self.at += 1;
                let mut args = Vec::new();
                if !self.peek_op(")") {
                    loop {
                        args.push(self.or()?);
                        if !self.peek_op(",") {
                            break;
                        }
                        self.at += 1;
                    }
                }
                self.expect(")")?;
                self.call(&name, &args)
            }
            Token::Ident(name) => Ok(match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => self
                    .scope
                    .contexts
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| anyhow!("unknown context `{name}`"))?,
            }),
            Token::Op(o) => bail!("unexpected `{o}`"),
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value> {
        let text = |i: usize| args.get(i).map(to_text).unwrap_or_default();
        Ok(match name.to_ascii_lowercase().as_str() {
            "always" => Value::Bool(true),
            "success" => Value::Bool(!self.scope.failed),
            "failure" => Value::Bool(self.scope.failed),
            "cancelled" => Value::Bool(false),
            "fromjson" => serde_json::from_str(&text(0))
                .map_err(|e| anyhow!("fromJSON: `{}` is not JSON: {e}", text(0)))?,
            "tojson" => Value::String(serde_json::to_string_pretty(
                args.first().unwrap_or(&Value::Null),
            )?),
            "contains" => Value::Bool(match args.first() {
                Some(Value::Array(a)) => a.iter().any(|x| loosely_equal(x, &args[1])),
                _ => text(0).to_lowercase().contains(&text(1).to_lowercase()),
            }),
            "startswith" => {
                Value::Bool(text(0).to_lowercase().starts_with(&text(1).to_lowercase()))
            }
            "endswith" => Value::Bool(text(0).to_lowercase().ends_with(&text(1).to_lowercase())),
            "format" => {
                let mut out = text(0);
                for i in 1..args.len() {
                    out = out.replace(&format!("{{{}}}", i - 1), &text(i));
                }
                Value::String(out)
            }
            // Only cache keys use it; a rehearsal has no cache, so any stable text will do.
            "hashfiles" => Value::String("rehearsal".into()),
            other => bail!("the function `{other}` is not supported in a rehearsal"),
        })
    }
}

/// `==` as Actions compares: strings case-insensitively, mixed types as numbers.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Null => Some(0.0),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s.trim().is_empty() => Some(0.0),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str) -> Value {
        let contexts = json!({
            "inputs": {"fork-owner": "acme", "empty": ""},
            "needs": {"plan": {"outputs": {"count": "0", "matrix": "{\"include\":[{\"cve\":\"CVE-1\"}]}"}}},
            "vars": {},
            "matrix": {"rid": "linux-x64"},
        });
        let scope = Scope {
            contexts: contexts.as_object().unwrap(),
            failed: false,
        };
        interpolate(expr, &scope).unwrap()
    }

    #[test]
    fn the_kinds_the_workflows_use() {
        assert_eq!(
            eval("${{ inputs.fork-owner }}/runtime"),
            json!("acme/runtime")
        );
        assert_eq!(eval("${{ needs.plan.outputs.count != '0' }}"), json!(false));
        assert_eq!(
            eval("${{ vars.ELS_FORK_BRANCH || 'release/6.0-els' }}"),
            json!("release/6.0-els")
        );
        assert_eq!(
            eval("${{ fromJSON(needs.plan.outputs.matrix) }}"),
            json!({"include": [{"cve": "CVE-1"}]})
        );
        assert_eq!(
            eval("${{ matrix['rid'] == 'LINUX-X64' && !failure() }}"),
            json!(true)
        );
        assert_eq!(
            eval("runtime-${{ matrix.rid }}"),
            json!("runtime-linux-x64")
        );
        assert_eq!(eval("${{ vars.X != '' }}"), json!(false));
        assert_eq!(eval("${{ format('{0}-{1}', 'a', 1) }}"), json!("a-1"));
    }
}
