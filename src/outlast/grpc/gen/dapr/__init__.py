"""Generated from outlast/grpc/protos/dapr/ by `make protos`: do not edit."""
