export { translate } from "./translate.js";
