"""Login load balancing without IPVS: the bucket tables and the health agent that keeps them."""
