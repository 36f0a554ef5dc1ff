export { createGateway, type GatewayDeps, type GatewayOptions, type UpstreamConfig } from './gateway.ts';
export { SERVICE_RULES, captureOf, ruleFor, type Capture, type ServiceRule } from './rules.ts';
export { loadModel, modelNames, type ServiceModel } from './model.ts';
