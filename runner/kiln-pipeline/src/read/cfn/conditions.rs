//! The template's `Conditions`: `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` and `Condition`,
//! evaluated once each. A condition over a value not given is not a guess: it comes back as the
//! parameters it needs (`And` with one side false, or `Or` with one side true, needs nothing).

use kiln_yaml::Node;

use super::{long_form, short_form, strip, Arg, Template};
use crate::read::tree::tag_span;
use crate::model::Span;

impl Template<'_> {
    /// A named condition of the template's `Conditions`.
    pub fn condition(&mut self, name: &str, span: Span) -> Result<bool, Vec<String>> {
        if let Some(r) = self.cond_cache.get(name) {
            return r.clone();
        }
        let Some(node) = self.conditions.get(name).copied() else {
            self.error("E2015", format!("no condition `{name}` in the template's Conditions"), span);
            return Ok(false);
        };
        if self.cond_stack.iter().any(|c| c == name) {
            self.error("E2015", format!("the condition `{name}` refers to itself"), span);
            return Ok(false);
        }
        self.cond_stack.push(name.to_string());
        let r = self.cond_node(node);
        self.cond_stack.pop();
        self.cond_cache.insert(name.to_string(), r.clone());
        r
    }

    fn cond_node(&mut self, n: &Node) -> Result<bool, Vec<String>> {
        if let Some(name) = short_form(n.tag.as_deref()) {
            return self.cond_expr(&name, Arg::Untagged(n), tag_span(self.source, n));
        }
        match long_form(n) {
            Some((name, arg)) => {
                let name = name.to_string();
                self.cond_expr(&name, Arg::Node(arg), n.span)
            }
            None => {
                self.error("E2015", format!("a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition, found {}", n.describe()), n.span);
                Ok(false)
            }
        }
    }

    pub(super) fn cond_expr(&mut self, name: &str, arg: Arg, span: Span) -> Result<bool, Vec<String>> {
        match name {
            "Condition" => {
                let c = arg.node().as_scalar().unwrap_or_default().to_string();
                self.condition(&c, span)
            }
            "Fn::Equals" => {
                let Some([a, b]) = arg.items() else {
                    self.error("E2015", "Fn::Equals takes two values".into(), span);
                    return Ok(false);
                };
                self.quiet += 1;
                let (a, b) = (self.value(a), self.value(b));
                self.quiet -= 1;
                let mut needs: Vec<String> = a.needs().iter().chain(b.needs()).cloned().collect();
                if !needs.is_empty() {
                    needs.dedup();
                    return Err(needs);
                }
                Ok(strip(&a) == strip(&b))
            }
            "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let items = arg.items().unwrap_or_default();
                let mut results = Vec::new();
                for item in items {
                    results.push(self.cond_node(item));
                }
                let needs: Vec<String> = results.iter().filter_map(|r| r.clone().err()).flatten().collect();
                let known: Vec<bool> = results.iter().filter_map(|r| r.clone().ok()).collect();
                match name {
                    "Fn::Not" if results.len() == 1 => results[0].clone().map(|b| !b),
                    "Fn::And" if known.contains(&false) => Ok(false),
                    "Fn::Or" if known.contains(&true) => Ok(true),
                    "Fn::And" | "Fn::Or" if needs.is_empty() && !results.is_empty() => Ok(name == "Fn::And"),
                    _ if !needs.is_empty() => Err(needs),
                    _ => {
                        self.error("E2015", format!("{name} takes a list of conditions"), span);
                        Ok(false)
                    }
                }
            }
            other => {
                self.error("E2015", format!("{other} cannot be used in a condition"), span);
                Ok(false)
            }
        }
    }
}
