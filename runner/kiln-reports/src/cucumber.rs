use crate::builder::Sink;
use crate::input::Input;
use crate::xml::Fatal;
pub(crate) fn parse(_input: &mut Input, _sink: &mut Sink) -> Result<(), Fatal> { Err(Fatal::new(None, "todo")) }
