//! Validation of Gateway API resources (placeholder: filled in by the Gateway API validator).

use super::report::Report;
use crate::config::gateway_api::{GatewaySpec, GrpcRouteSpec, HttpRouteSpec};

pub(crate) fn validate_gateway(_spec: &GatewaySpec, _report: &mut Report) {}
pub(crate) fn validate_http_route(_spec: &HttpRouteSpec, _report: &mut Report) {}
pub(crate) fn validate_grpc_route(_spec: &GrpcRouteSpec, _report: &mut Report) {}
