"""Generated from outlast/grpc/protos/durabletask/ by `make protos`: do not edit."""
