declare const __COVEY_BUILD__: string;
