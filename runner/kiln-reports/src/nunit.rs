use crate::builder::Sink;
use crate::xml::{Fatal, Xml};
pub(crate) fn parse(xml: &mut Xml, _sink: &mut Sink) -> Result<(), Fatal> { Err(xml.fatal("todo")) }
