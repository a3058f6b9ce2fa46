import { backendConformance } from "./backend_conformance/suite.ts";
import { postgresTarget } from "./helpers.ts";

backendConformance(postgresTarget);
