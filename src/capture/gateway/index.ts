export { createGateway, type GatewayCallFacts, type GatewayDeps, type GatewayOptions, type UpstreamConfig } from './gateway.ts';
export { SERVICE_RULES, captureOf, ruleFor, rulesOf, type Capture, type ServiceRule } from './rules.ts';
export { loadModel, modelNames, modelsFor, type ServiceModel } from '../../aws/protocol/model.ts';
