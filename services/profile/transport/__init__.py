"""gRPC transport of the profile service: proto in, domain call, proto out."""
